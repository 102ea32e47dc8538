"""DELTA (Li et al., ICLR 2019): fine-tuning with the feature maps held near the
pretrained network's, channel by channel, weighted by how much each channel matters:

  L = CE + alpha * Omega' + beta * Omega'',
  Omega'  = sum_j sum_b 1/2 sum_c C_j W_jc ||FM_jc(w, x_b) - FM_jc(w0, x_b)||^2 / (H_j W_j),
  Omega'' = 1/2 ||w_fc||^2   (the new head's kernel and bias),

FM_j the output of tap j (before its BN) in this step, of the fine-tuned network w (in
training mode) and of the pretrained network w0 (inference mode, no gradient) on the same
batch; C_j its channels, H_j x W_j its size; b runs over the global batch (a sum, as the
official code's); W_j = softmax(z_j / 5), z_j the z-scored increase of a linear probe's
loss when channel c's filter is zeroed (systems/delta_attention.py measures it). The taps
are the official code's: the last conv of each stage's last block (ResNet-50:
layer{1..4}_{2,3,5,2}/conv3). No weight decay (the regularizers replace it).

``config.delta``: alpha, beta, and the channel weights ``attention``: '' until the
run's runner has measured them into ``<workdir>/channel_attention.npz`` (the path is
then written here), 'uniform' (W = 1/C_j: DELTA without attention), or a path.
"""
import functools
import os
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from adafilter_jax.methods.registry import Loss, Method, register, settings
from adafilter_jax.methods import finetune

_BLOCK, _CONV = re.compile(r'^layer(\d+)_(\d+)$'), re.compile(r'^conv(\d+)$')
TEMPERATURE = 5.0  # softmax(z / 5), the official code's


def taps(params) -> list:
  """The last conv of every stage's last block, in forward order: (block, unit, 'conv')."""
  last = {}
  for name in params:
    if m := _BLOCK.match(name):
      stage, index = map(int, m.groups())
      last[stage] = max(last.get(stage, (-1, name)), (index, name))
  out = []
  for stage in sorted(last):
    block = last[stage][1]
    unit = max((int(m.group(1)), u) for u in params[block] if (m := _CONV.match(u)))[1]
    out.append((block, unit, 'conv'))
  return out


def weights_from_importance(importance: np.ndarray) -> np.ndarray:
  """W = softmax(z / 5), z the z-scored loss increases of one tap's channels."""
  importance = np.asarray(importance, np.float64)
  std = importance.std()
  z = (importance - importance.mean()) / (std if std > 0 else 1.0)
  e = np.exp((z - z.max()) / TEMPERATURE)
  return (e / e.sum()).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> dict:
  del mtime_ns  # in the cache key: a rewritten file is read again
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def attention(config, name: str, channels: int) -> np.ndarray:
  """W_j of tap `name` ('layer1_2/conv3/conv'), [channels]."""
  source = settings(config, 'delta', 'delta').attention
  if source == 'uniform':
    return np.full(channels, 1.0 / channels, np.float32)
  if not source:
    raise ValueError("config.delta.attention is '': the delta runner measures the channel "
                     'weights first (python main.py --config '
                     'configs/transfer.py:dataset=<dataset>,method=delta runs it), or set it '
                     "to 'uniform' or a channel_attention.npz")
  table = _load(source, os.stat(source).st_mtime_ns)
  if name not in table or table[name].shape != (channels,):
    shapes = {k: v.shape for k, v in table.items()}
    raise ValueError(f'{source}: no channel weights for {name} of shape ({channels},); '
                     f'it has {shapes}')
  return table[name]


def feature_map_loss(target, source, weights) -> jax.Array:
  """Per image, 1/2 sum_c C W_c ||target_c - source_c||^2 / (H W): [B, H, W, C] -> [B]."""
  _, h, w, c = target.shape
  sq = jnp.sum(jnp.square(target.astype(jnp.float32) - source.astype(jnp.float32)), (1, 2))
  return 0.5 * c * (sq / (h * w)) @ jnp.asarray(weights)


def feature_loss(tapped, pretrained, config, axis_name=None):
  c = settings(config, 'delta', 'delta')
  names = [k for k in tapped if k != 'features']
  per_image = sum(feature_map_loss(tapped[k], pretrained[k], attention(config, k,
                                                                       tapped[k].shape[-1]))
                  for k in names)
  # The official sum over the batch: mean over this shard x the global batch size, so the
  # devices' averaged gradients are the global batch's.
  size = per_image.shape[0] * (1 if axis_name is None else jax.lax.psum(1, axis_name))
  return c.alpha * size * jnp.mean(per_image)


def regularizer(params, pretrained_params, config):
  del pretrained_params
  c = settings(config, 'delta', 'delta')
  return c.beta / 2 * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params['fc']))


def loss(ctx):
  """alpha * Omega' + beta * Omega''."""
  return (regularizer(ctx.params, ctx.pretrained, ctx.config)
          + feature_loss(ctx.tapped, ctx.pretrained_tapped, ctx.config, ctx.axis_name))


def recipe(c):
  """DELTA (Li et al., ICLR 2019): fine-tuning + alpha * the attention-weighted distance of
  four feature maps to the pretrained network's + beta/2 ||w_fc||^2, no weight decay;
  alpha=0.01 (0.1 on Stanford Dogs), beta=0.01 (the official run.sh and train.py). The
  channel weights come from a linear probe of probe_epochs=10 (lr 0.01, x0.1 by epoch 6,
  weight decay 1e-4) and the loss increases on attention_images=128 training images
  (the official channel_eval.py: 4 batches of 32), measured in the run's workdir first
  (systems/delta_attention.py); attention='uniform' skips them (DELTA without attention).

    python main.py --config configs/transfer.py:dataset=cubs,method=delta

  Expected: about +0.5-2 points over fine-tuning (TLlib, ResNet-50 at 100 %: CUB-200
  82.3 vs ERM 81.8, Stanford Cars 88.4 vs 87.8, FGVC-Aircraft 82.7 vs 80.2;
  adafilter_jax/methods/paper_numbers.py); not yet run at full size here.
  """
  c.delta = ml_collections.ConfigDict(dict(
      alpha=0.1 if c.data.name == 'stanford_dogs' else 0.01, beta=0.01, attention='',
      probe_epochs=10, probe_lr=0.01, probe_decay_epochs=(6,), probe_weight_decay=1e-4,
      attention_images=128))
  c.optim.weight_decay = 0.0  # replaced by the regularizers (the loop drops it anyway)
  return c


DELTA = register(Method(name='delta', build_model=finetune.build_with('delta'),
                        loss=Loss(loss, pretrained=True, taps=taps,
                                  replaces_weight_decay=True),
                        recipe=recipe))
