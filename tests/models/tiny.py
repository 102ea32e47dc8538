"""Tiny models for the model tests, built as the methods build them."""
import jax
import jax.numpy as jnp

from adafilter_jax import models


def resnet(arch, num_classes, **kw):
  return models.resnet(arch, num_classes, **kw)


def adafilter(arch, num_classes, width=8, **kw):
  return models.adafilter_resnet(arch, num_classes, width=width, **kw)


def init(model, size=16, batch=1):
  x = jnp.zeros((batch, size, size, 3))
  rngs = {'params': jax.random.key(0), 'gate': jax.random.key(1)}
  return jax.device_get(jax.jit(lambda: model.init(rngs, x, train=False))())
