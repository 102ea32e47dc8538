"""Recipes on the tests' tiny config, and tiny models' variables filled by numpy:
`model.init` on CPU compiles a random initializer per parameter (tens of seconds for a
ResNet-18); eval_shape does not."""
import functools

import jax
import ml_collections
import numpy as np

from tests import tiny_config


def config(method: str, arch='resnet10', width=4, **overrides) -> ml_collections.ConfigDict:
  """Recipe `method` on the tests' tiny config (tests/tiny_config.py), `width` wide, every
  conv gated."""
  return tiny_config.config(recipe=method, arch=arch, width=width, gated_layers='all',
                            **overrides)


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
