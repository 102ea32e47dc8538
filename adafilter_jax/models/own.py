"""A user's own linen model, named by the config (``config.own_model``; docs/own_model.md),
called as this project's models are: ``model.apply(v, images, train=...)`` ->
``(logits, gates)``. Its variables keep the paths its own ``init`` gives them."""
import importlib
import inspect
import json
import os
from typing import Mapping

import flax.linen as nn
import jax.numpy as jnp


def load_class(spec: str):
  """'package.module:Name' -> that attribute (a linen Module class, or a function that
  returns a module: jax-resnet's ResNet18)."""
  module, _, name = spec.partition(':')
  if not module or not name:
    raise ValueError(f'config.own_model.cls={spec!r}: expected "package.module:Name"')
  try:
    return getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    raise ValueError(f'config.own_model.cls={spec!r}: {e}') from None


def train_argument(model: nn.Module, train_flag: str):
  """The keyword (and its value for `train`) that tells `model` it trains: 'train',
  'deterministic' (its negation), or None when it reads a mutable `batch_stats`."""
  params = inspect.signature(model.__call__).parameters
  if train_flag == 'auto':
    train_flag = next((f for f in ('train', 'deterministic') if f in params), 'mutable')
  if train_flag not in ('train', 'deterministic', 'mutable'):
    raise ValueError(f'config.own_model.train_flag={train_flag!r}: expected auto, train, '
                     'deterministic or mutable')
  return None if train_flag == 'mutable' else train_flag


class OwnModel(nn.Module):
  """`network` called as ``(images, train) -> (logits, {})``. (Not named `model`: that
  name is taken in the scope it shares with `transform.Gated`.)"""
  network: nn.Module
  train_flag: str = 'auto'

  @nn.compact
  def __call__(self, images, train: bool = False):
    arg = train_argument(self.network, self.train_flag)
    kwargs = {} if arg is None else {arg: train if arg == 'train' else not train}
    model = self.network.clone(parent=self.scope, _deep_clone=True)  # the user's own paths
    return jnp.asarray(model(images, **kwargs), jnp.float32), {}


def named(config) -> bool:
  """Whether `config` trains a user's own model (``config.own_model.cls``) rather than
  this project's ResNet (``config.model.arch``); configs saved before the block: no."""
  return bool(config.get('own_model', {}).get('cls', ''))


METHODS = ('finetune', 'adafilter')  # the methods that build a user's own model


def check(config):
  """A user's own model with a method that would train this project's ResNet instead, or
  weights that are not there: one line, before anything is built."""
  if not named(config):
    return
  if config.method not in METHODS:
    raise ValueError(f'config.own_model.cls={config.own_model.cls!r} trains with the methods '
                     f'{METHODS}, not config.method={config.method!r}')
  if config.model.remat:
    raise ValueError('config.model.remat=True recomputes this project\'s ResNet blocks; a '
                     'user\'s own model is recomputed by its own nn.remat (which AdaFilter '
                     'refuses): set config.model.remat=False')
  weights = config.own_model.weights
  if weights and not os.path.exists(weights):
    raise FileNotFoundError(f'config.own_model.weights={weights!r}: no such file or directory')


def build(own: Mapping, num_classes: int) -> OwnModel:
  """The model `own` (the config's `own_model` block) names, its head `num_classes` wide."""
  try:
    kwargs = json.loads(own['kwargs'] or '{}')
  except json.JSONDecodeError as e:
    raise ValueError(f'config.own_model.kwargs={own["kwargs"]!r} is not JSON: {e}') from None
  kwargs[own['num_classes_arg']] = num_classes
  return OwnModel(load_class(own['cls'])(**kwargs), train_flag=own['train_flag'])
