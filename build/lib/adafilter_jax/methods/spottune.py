"""SpotTune (Guo et al., CVPR 2019) and its global-k variant, on the ResNets of resnet.py.

- ``spottune``: per image and residual block, the frozen block or its fine-tuned copy,
  picked by a policy net (the model's ``gate``: its own learning rate, 1e-4 in the
  paper's recipe) with the straight-through Gumbel-softmax; models/spottune.py.
- ``spottune_global_k``: the same model trained with l_c + lambda_k*l_k + lambda_e*l_e,
  which pushes every image towards fine-tuning the same k blocks (Eqs. 5-7).
- ``spottune_fixed``: the global-k result: ``config.spottune.blocks`` fine-tuned for
  every image, every other block frozen, no policy net (`global_policy` reads the blocks
  off a global-k run's gate statistics, `fixed_params` carries its weights over).
"""
import jax.numpy as jnp
import ml_collections

from adafilter_jax.methods import Method, backbone_kwargs, default_label, register
from adafilter_jax.models import spottune as spottune_lib


def default_config() -> ml_collections.ConfigDict:
  """``config.spottune``. tau and the policy widths are the paper's; k = 3 is its
  global-k experiment; lambda_k and lambda_e are not given (ours: l_k starts near
  (L/2 - k)^2, so 0.1 keeps it on the scale of the classification loss)."""
  return ml_collections.ConfigDict(dict(
      tau=5.0, policy_width=64, k=3, lambda_k=0.1, lambda_e=0.1,
      blocks=''))  # spottune_fixed: comma-separated blocks to fine-tune, e.g. 'layer4_2'


def _config(config):
  return config.spottune if 'spottune' in config else default_config()


def build_model(config, num_classes, bn_axis_name=None):
  c = _config(config)
  return spottune_lib.spottune_resnet(
      config.model.arch, num_classes, policy_width=c.policy_width, tau=c.tau,
      **backbone_kwargs(config, bn_axis_name))


def build_fixed_model(config, num_classes, bn_axis_name=None):
  blocks = [b.strip() for b in _config(config).blocks.split(',') if b.strip()]
  if not blocks:
    raise ValueError('spottune_fixed needs config.spottune.blocks (the global-k policy, '
                     'e.g. "layer3_5,layer4_1,layer4_2"); python -m adafilter_jax.experiments '
                     'reads it off the spottune_global_k run.')
  return spottune_lib.spottune_resnet(config.model.arch, num_classes, fixed=blocks,
                                      **backbone_kwargs(config, bn_axis_name))


def label(path):
  return 'frozen' if spottune_lib.PRE in path else default_label(path)


def usage(gates) -> jnp.ndarray:
  """v_l: per block, the fraction of the batch routed through the fine-tuned copy
  (differentiable through the straight-through one-hots)."""
  return jnp.stack([jnp.mean(g) for g in gates.values()])


def global_k_losses(gates, k: float):
  """(l_k, l_e) of SpotTune's Eqs. 5 and 6, with v_l estimated on the batch."""
  v = usage(gates)
  l_k = jnp.square(jnp.sum(v) - k)
  safe = jnp.where(v > 0, v, 1.0)  # 0 log 0 = 0, with a finite gradient at 0
  l_e = -jnp.sum(jnp.where(v > 0, v * jnp.log(safe), 0.0))
  return l_k, l_e


def global_k_loss(gates, config):
  c = _config(config)
  l_k, l_e = global_k_losses(gates, c.k)
  return c.lambda_k * l_k + c.lambda_e * l_e


SPOTTUNE = register(Method(name='spottune', build_model=build_model, label=label))
SPOTTUNE_GLOBAL_K = register(Method(name='spottune_global_k', build_model=build_model,
                                    label=label, aux_loss=global_k_loss))
SPOTTUNE_FIXED = register(Method(name='spottune_fixed', build_model=build_fixed_model,
                                 label=label))
