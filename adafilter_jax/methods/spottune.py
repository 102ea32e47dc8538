"""SpotTune (Guo et al., CVPR 2019) and its global-k variant, on the ResNets of resnet.py.

- ``spottune``: per image and residual block, the frozen block or its fine-tuned copy,
  picked by a policy net (the model's ``gate``: its own learning rate, 1e-4 in the
  paper's recipe) with the straight-through Gumbel-softmax; models/spottune.py.
- ``spottune_global_k``: the same model trained with l_c + lambda_k*l_k + lambda_e*l_e,
  which pushes every image towards fine-tuning the same k blocks (Eqs. 5-7).
- ``spottune_fixed``: the global-k result: ``config.spottune.blocks`` fine-tuned for
  every image, every other block frozen, no policy net (global_k.py picks the blocks the
  global-k run's policy uses most on the training split; `fixed_params` carries its
  weights over).

Each reads its settings from ``config.spottune``, which only the recipes
(configs/methods/spottune*.py) write.
"""
from typing import Optional

import jax
import jax.numpy as jnp

from adafilter_jax.methods.registry import (Loss, Method, backbone_kwargs, default_label,
                                            register, settings)
from adafilter_jax import models
from adafilter_jax.models import spottune as spottune_lib


def _settings(config):
  return settings(config, 'spottune', config.method)


def build_model(config, num_classes, bn_axis_name=None):
  c = _settings(config)
  return models.spottune_backbone(
      config.model.arch, num_classes, policy_width=c.policy_width, tau=c.tau,
      **backbone_kwargs(config, bn_axis_name))


def build_fixed_model(config, num_classes, bn_axis_name=None):
  blocks = [b.strip() for b in _settings(config).blocks.split(',') if b.strip()]
  if not blocks:
    raise ValueError('spottune_fixed needs config.spottune.blocks (the global-k policy, '
                     'e.g. "layer3_5,layer4_1,layer4_2"); python -m adafilter_jax.apps.experiments '
                     'reads it off the spottune_global_k run.')
  return models.spottune_backbone(config.model.arch, num_classes, fixed=blocks,
                                  **backbone_kwargs(config, bn_axis_name))


def label(path):
  return 'frozen' if spottune_lib.PRE in path else default_label(path)


def usage(gates, axis_name: Optional[str] = None) -> jnp.ndarray:
  """v_l: per block, the fraction of the batch routed through the fine-tuned copy
  (differentiable through the straight-through one-hots). Under pmap the fraction of
  the global batch: the mean over the devices' equal-sized shards of their fractions."""
  v = jnp.stack([jnp.mean(g) for g in gates.values()])
  return v if axis_name is None else jax.lax.pmean(v, axis_name)


def global_k_losses(gates, k: float, axis_name: Optional[str] = None):
  """(l_k, l_e) of SpotTune's Eqs. 5 and 6, with v_l estimated on the (global) batch."""
  v = usage(gates, axis_name)
  l_k = jnp.square(jnp.sum(v) - k)
  safe = jnp.where(v > 0, v, 1.0)  # 0 log 0 = 0, with a finite gradient at 0
  l_e = -jnp.sum(jnp.where(v > 0, v * jnp.log(safe), 0.0))
  return l_k, l_e


def global_k_loss(gates, config, axis_name=None):
  c = _settings(config)
  l_k, l_e = global_k_losses(gates, c.k, axis_name)
  return c.lambda_k * l_k + c.lambda_e * l_e


SPOTTUNE = register(Method(name='spottune', build_model=build_model, label=label))
SPOTTUNE_GLOBAL_K = register(Method(name='spottune_global_k', build_model=build_model,
                                    label=label, loss=Loss(lambda ctx: global_k_loss(
                                        ctx.gates, ctx.config, ctx.axis_name))))
SPOTTUNE_FIXED = register(Method(name='spottune_fixed', build_model=build_fixed_model,
                                 label=label))
