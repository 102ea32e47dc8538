"""Tiny models with numpy-filled variables: `model.init` on CPU compiles a random
initializer per parameter (tens of seconds for a ResNet-18); eval_shape does not."""
import functools

import jax
import ml_collections
import numpy as np

from configs import base
from configs import methods as recipes


def config(method: str, arch='resnet18', width=4, **overrides) -> ml_collections.ConfigDict:
  """The base config with recipe `method` applied (its settings block), shrunk."""
  c = base.get_config()
  recipes.recipe(method).apply(c)
  c.model.arch, c.model.width = arch, width
  c.adafilter.embed_dim = c.adafilter.hidden_dim = 8
  c.lock()  # a mistyped override fails, as in main.py
  c.update_from_flattened_dict(overrides)
  return c


def variables(model, *args, seed=0, **kwargs):
  """Random variables with `model.init`'s structure: kernels ~ N(0, 1/fan_in), BN scale
  near 1, running mean 0 and variance 1."""
  rngs = {'params': jax.random.key(0), 'gate': jax.random.key(1)}
  shapes = jax.eval_shape(functools.partial(model.init, **kwargs), rngs, *args)
  rng = np.random.RandomState(seed)

  def fill(path, s):
    name = path[-1].key
    if name in ('var', 'mean'):
      return np.full(s.shape, 1.0 if name == 'var' else 0.0, np.float32)
    if name == 'scale':
      return (1 + 0.1 * rng.randn(*s.shape)).astype(np.float32)
    fan_in = int(np.prod(s.shape[:-1])) if len(s.shape) > 1 else 10
    return (rng.randn(*s.shape) / np.sqrt(fan_in)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)
