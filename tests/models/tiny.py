"""Tiny models for the model tests, built from the config blocks as the methods build them."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import models
from adafilter_jax.models import layers, transform
from adafilter_jax.models.gates import GateState
from configs import base


def adafilter_block(**overrides):
  """configs/base.py's `adafilter` block with `overrides`."""
  block = base.get_config().adafilter
  block.update(overrides)
  return block


def resnet(arch, num_classes, **model):
  """`models.backbone` from the `model` block, `model` overriding its fields."""
  block = base.get_config().model
  block.update(dict(arch=arch, **model))
  return models.backbone(num_classes=num_classes, **block)


def adafilter(arch, num_classes, width=8, **kw):
  """AdaFilter's ResNet; `kw`: fields of the `adafilter` block, or of the `model` one."""
  block = adafilter_block(**{k: v for k, v in kw.items() if k in base.get_config().adafilter})
  model = base.get_config().model
  model.update(dict(width=width, **{k: v for k, v in kw.items() if k not in block}))
  del model['arch']
  return models.adafilter_resnet(arch, num_classes, block, **model)


def init(model, size=16, batch=1):
  x = jnp.zeros((batch, size, size, 3))
  rngs = {'params': jax.random.key(0), 'gate': jax.random.key(1)}
  return jax.device_get(jax.jit(lambda: model.init(rngs, x, train=False))())


class FixedGate(nn.Module):
  """A gate whose decisions are given: the gated unit's maths checked by hand."""
  decisions: np.ndarray

  def init_state(self, images, train):
    return GateState(None, {})

  def __call__(self, x, state, name, features):
    g = jnp.asarray(self.decisions)
    return g, GateState(None, {**state.decisions, name: g})


def gated_unit(x, features, kernel_size, decisions, padding=0, **options):
  """One conv+BN unit (`layers.ConvBN`, called ``(x, train)``) through AdaFilter's
  transform with the given decisions; ``apply(v, x, train) -> (y, decisions)``. Params:
  F ``conv``, S ``conv_pre``, BN_ft ``bn``, BN_pre ``bn_pre``."""
  unit = layers.ConvBN(features, kernel_size, padding=padding)
  return transform.gate(unit, x, False, gate=functools.partial(FixedGate, decisions),
                        **options)
