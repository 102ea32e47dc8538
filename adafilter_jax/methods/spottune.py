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

Each reads its settings from ``config.spottune``, which only the recipes below write.
"""
from typing import Optional

import jax
import jax.numpy as jnp
import ml_collections

from adafilter_jax.methods.registry import (Loss, Method, backbone_kwargs, default_label,
                                            register, settings)
from adafilter_jax import models
from adafilter_jax.methods import schedules
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


def recipe(c):
  """SpotTune (Guo et al., CVPR 2019) with its ResNet-50 recipe: per image and residual
  block, the frozen block or a fine-tuned copy, picked by a policy ResNet (64/128/256/512)
  with the straight-through Gumbel-softmax (tau 5; argmax at test time). SGD momentum
  0.9, lr 0.01, policy lr 1e-4, batch 32, 40 epochs, x0.1 at epochs 15 and 30.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=spottune
  """
  # tau and the policy widths are the paper's; k = 3 is its global-k experiment;
  # lambda_k and lambda_e are not given (ours: l_k starts near (L/2 - k)^2, so 0.1 keeps
  # it on the scale of the classification loss). `blocks` (spottune_fixed): the
  # comma-separated blocks to fine-tune, e.g. 'layer4_2'; the experiments grid fills it.
  c.spottune = ml_collections.ConfigDict(dict(
      tau=5.0, policy_width=64, k=3, lambda_k=0.1, lambda_e=0.1, blocks=''))
  c.optim.gate_lr = 1e-4  # the policy net's rate
  return schedules.spottune(c)


def global_k_recipe(c):
  """SpotTune global-k, step 1: SpotTune's recipe with l_c + lambda_k*(sum_l v_l - k)^2 +
  lambda_e*sum_l -v_l log v_l, which drives every image to fine-tune the same k blocks
  (k = 3 as in the paper; the lambdas are ours, `recipe`). Step 2 is
  the recipe spottune_fixed.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=spottune_global_k
  """
  return recipe(c)


def fixed_recipe(c):
  """SpotTune global-k, step 2: the k blocks the global-k run's policy fine-tunes most on
  the training images (adafilter_jax/systems/global_k.py) fine-tuned for every image, every other
  block frozen, no policy net; trained with SpotTune's recipe from the pretrained weights.
  The experiments grid fills `spottune.blocks` from the same dataset and seed's
  spottune_global_k run; by hand:

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=spottune_fixed \
        --config.spottune.blocks=layer3_5,layer4_1,layer4_2
  """
  return recipe(c)


SPOTTUNE = register(Method(name='spottune', build_model=build_model, label=label,
                            recipe=recipe))
SPOTTUNE_GLOBAL_K = register(Method(name='spottune_global_k', build_model=build_model,
                                    label=label, loss=Loss(lambda ctx: global_k_loss(
                                        ctx.gates, ctx.config, ctx.axis_name)),
                                    recipe=global_k_recipe))
SPOTTUNE_FIXED = register(Method(name='spottune_fixed', build_model=build_fixed_model,
                                 label=label, recipe=fixed_recipe))
