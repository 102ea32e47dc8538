"""Surgical fine-tuning (Lee et al., ICLR 2023) and its Auto-RGN variant.

**Surgical** (`surgical`): only the chosen part of the pretrained network trains, with
the new head (which must: it starts random); every other parameter stays as pretrained
(the 'frozen' group: no step, no weight decay). ``surgical.modules`` names the part,
comma-separated: a stage ('layer2': its blocks layer2_0, layer2_1, ...; 'last': the last
one), a block ('layer3_1') or the stem ('conv1'). The official code's options on an
ImageNet ResNet-50 are 'conv1,layer1' (its "first_two_block"), 'layer2', 'layer3',
'layer4' and the head alone. Running BN statistics follow the training mode everywhere,
as there.

**Auto-RGN** (`auto_rgn`): every conv and dense tensor trains, each at its own rate

    lr_i = lr * RGN_i / max_j RGN_j,      RGN_i = ||g_i|| / ||theta_i||

(g_i the tensor's gradient, theta_i its value); the BN parameters do not train (the
official code leaves every parameter named 'bn' out of its optimizer). The rates are set
afresh at the first step of every epoch from that step's gradient (the official code:
from the mean RGN over 5 batches at the start of every epoch, and Adam; here the
project's SGD, whose momentum carries across epochs as with any per-group rate).
"""
import dataclasses
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from adafilter_jax.methods.registry import Method, default_label, register, settings
from adafilter_jax.methods.bitfit import is_batch_norm
from adafilter_jax.methods import finetune
from adafilter_jax.methods import schedules

ALWAYS = ('fc', 'head_bn')  # the new head (ResNet-26's begins with a BN): always trains


def tuned_modules(params, spec: str) -> set:
  """The top-level modules of `params` that ``surgical.modules`` (`spec`) names; 'last'
  names the last stage, whatever the depth (layer4, ResNet-26's layer3)."""
  names = [n for n in params if n not in ALWAYS]
  stages = [int(m[1]) for n in names if (m := re.fullmatch(r'layer(\d+)_\d+', n))]
  tuned = set()
  for part in (p.strip() for p in spec.split(',')):
    if not part:
      continue
    if part == 'last' and stages:
      part = f'layer{max(stages)}'
    found = {n for n in names if n == part or re.fullmatch(re.escape(part) + r'_\d+', n)}
    if not found:
      raise ValueError(f'config.surgical.modules={spec!r}: {part!r} names no stage, block '
                       f'or stem of this network; it has {sorted(names)}')
    tuned |= found
  return tuned


@dataclasses.dataclass(frozen=True)
class _Surgical(Method):
  """Its groups depend on ``config.surgical.modules`` and the network's modules."""

  def labels(self, params, config=None):
    if config is None:
      raise ValueError('surgical fine-tuning labels its params from config.surgical.modules')
    tuned = tuned_modules(params, settings(config, 'surgical', 'surgical').modules)
    keep = lambda path: default_label(path) if path[0] in tuned or path[0] in ALWAYS \
        else 'frozen'
    return Method.labels(dataclasses.replace(self, label=keep), params)


def recipe(c):
  """Surgical fine-tuning (Lee et al., ICLR 2023): only
  `surgical.modules` and the new head train. 'last' (the last stage: layer4, ResNet-26's
  layer3) is our default: the paper picks the part per kind of shift, and new categories are
  closest to its feature/output-level shifts, where the later layers won. TLlib's recipe
  (methods/schedules.py).

    python main.py --config configs/transfer.py:dataset=cubs,method=surgical \
        --config.surgical.modules=layer3

  Expected: no published number on these datasets (the paper's are distribution-shift
  benchmarks); compare with `erm` at the same sampling rate. Not run here yet.
  """
  c.surgical = ml_collections.ConfigDict(dict(modules='last'))
  return schedules.tllib(c)


SURGICAL = register(_Surgical(name='surgical', build_model=finetune.build_with('surgical'),
                              recipe=recipe))


# ----------------------------------------------------------------------------- Auto-RGN


def rgn_label(path) -> str:
  return 'frozen' if is_batch_norm(path) else default_label(path)


def rgn_weights(grads, params, trainable):
  """Per tensor RGN_i / max_j RGN_j over the `trainable` tensors (0 elsewhere; 1 for an
  all-zero tensor, which has no relative scale)."""
  norm = lambda x: jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32))))
  g_norm, p_norm = jax.tree.map(norm, grads), jax.tree.map(norm, params)
  rgn = jax.tree.map(lambda g, p, t: jnp.where(t & (p > 0), g / jnp.where(p > 0, p, 1.0), 0.0),
                     g_norm, p_norm, trainable)
  top = jnp.max(jnp.stack(jax.tree.leaves(rgn)))
  scale = lambda r, p, t: jnp.where(t, jnp.where(p > 0, r / jnp.where(top > 0, top, 1.0), 1.0),
                                    0.0)
  return jax.tree.map(scale, rgn, p_norm, trainable)


class RGNState(NamedTuple):
  inner: Any      # the per-group optimizer's state
  weights: Any    # per tensor: the fraction of its group's rate it steps at
  count: jax.Array


def scale_by_rgn(inner: optax.GradientTransformation, trainable,
                 steps_per_epoch: int) -> optax.GradientTransformation:
  """`inner`'s update of every tensor times its RGN weight, refreshed at each epoch's
  first step from the raw gradient (what weight decay and momentum have not touched)."""

  def init(params):
    ones = jax.tree.map(lambda _: jnp.ones([], jnp.float32), params)
    return RGNState(inner.init(params), ones, jnp.zeros([], jnp.int32))

  def update(grads, state, params=None):
    fresh = state.count % steps_per_epoch == 0
    weights = jax.tree.map(lambda new, old: jnp.where(fresh, new, old),
                           rgn_weights(grads, params, trainable), state.weights)
    updates, inner_state = inner.update(grads, state.inner, params)
    updates = jax.tree.map(lambda u, w: (u * w).astype(u.dtype), updates, weights)
    return updates, RGNState(inner_state, weights, state.count + 1)

  return optax.GradientTransformation(init, update)


def wrap_optimizer(tx, labels, config, steps_per_epoch):
  del config
  return scale_by_rgn(tx, jax.tree.map(lambda g: g != 'frozen', labels), steps_per_epoch)


def auto_rgn_recipe(c):
  """Auto-RGN (Lee et al., ICLR 2023): every conv/dense
  tensor at lr x its relative gradient norm over the largest, BN parameters frozen, on
  TLlib's recipe (methods/schedules.py).

    python main.py --config configs/transfer.py:dataset=cubs,method=auto_rgn

  Expected: no published number on these datasets; compare with `erm` at the same
  sampling rate. Not run here yet.
  """
  return schedules.tllib(c)


AUTO_RGN = register(Method(name='auto_rgn', build_model=finetune.build_model, label=rgn_label,
                           wrap_optimizer=wrap_optimizer, recipe=auto_rgn_recipe))
