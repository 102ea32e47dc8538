"""Gated BN's other reading (Eq. 5, docs/method.md): each branch's BN takes its batch
statistics only from the examples whose gate picked that branch
(``config.adafilter.bn_stats='selected'``; transform.py puts it in the user's norm's
place). The default, 'batch', is the user's own norm over the whole batch."""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

BN_STATS = ('batch', 'selected')


def _moments(x, weight, axis_name: Optional[str]):
  """Per channel: total weight, weighted mean and variance over batch and space (and
  over devices: sums and counts are reduced, so unequal counts per device are exact)."""
  sums = (weight.sum((0, 1, 2)), (weight * x).sum((0, 1, 2)), (weight * x * x).sum((0, 1, 2)))
  if axis_name is not None:
    sums = jax.lax.psum(sums, axis_name)
  n, s1, s2 = sums
  mean = s1 / jnp.maximum(n, 1)
  return n, mean, jnp.maximum(s2 / jnp.maximum(n, 1) - mean * mean, 0)


class SelectedBatchNorm(nn.Module):
  """A branch's BN whose batch statistics come only from the examples whose gate picked
  that branch (the alternative reading of Eq. 5, docs/method.md).

  Same variables as `nn.BatchNorm` (so weights transfer alike). A channel that no example
  picked in this batch is normalised with the whole batch's statistics (its output is
  multiplied by 0 in the forward, but it enters the gate's straight-through gradient,
  BN_ft(F x) - BN_pre(S x), so it must be a sensible value) and keeps its running
  statistics. flax's own `mask` takes a mean over an empty selection (NaN) and averages
  per-device means under pmap, which is wrong for unequal counts.
  """
  use_running_average: bool
  axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  momentum: float = 0.9
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x, weight):
    c = x.shape[-1]
    ra_mean = self.variable('batch_stats', 'mean', lambda: jnp.zeros(c, jnp.float32))
    ra_var = self.variable('batch_stats', 'var', lambda: jnp.ones(c, jnp.float32))
    scale = self.param('scale', nn.initializers.ones, (c,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (c,), jnp.float32)
    if self.use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      xf = x.astype(jnp.float32)
      n, mean, var = _moments(xf, jnp.broadcast_to(weight, x.shape).astype(jnp.float32),
                              self.axis_name)
      _, batch_mean, batch_var = _moments(xf, jnp.ones_like(xf), self.axis_name)
      picked = n > 0
      mean, var = jnp.where(picked, mean, batch_mean), jnp.where(picked, var, batch_var)
      if not self.is_initializing():
        m = self.momentum
        ra_mean.value = jnp.where(picked, m * ra_mean.value + (1 - m) * mean, ra_mean.value)
        ra_var.value = jnp.where(picked, m * ra_var.value + (1 - m) * var, ra_var.value)
    y = (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias
    return y.astype(self.dtype)


def like(norm: nn.BatchNorm, train: bool) -> SelectedBatchNorm:
  """A `SelectedBatchNorm` in `norm`'s place: its variables, axis, momentum, epsilon."""
  return SelectedBatchNorm(not train, norm.axis_name if train else None,
                           norm.dtype or jnp.float32, norm.momentum, norm.epsilon,
                           parent=norm.scope.parent.push(norm.scope.path[-1], reuse=True))
