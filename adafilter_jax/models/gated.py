"""The gated unit: AdaFilter's filter selection (Eq. 1) with gated batch norm (Eq. 5).

Per gated conv: a trainable copy ``conv_ft`` (F) and a frozen copy ``conv_pre`` (S) of
the pretrained filters. With decisions G in {0,1}^[batch, channels] from the shared gate:

  gated BN (default, Eq. 5):  y = G * bn_ft(F(x)) + (1 - G) * bn_pre(S(x))
  standard BN (Eq. 6):        y = bn(G * F(x) + (1 - G) * S(x))

Since G multiplies F's output channel-wise, a channel of F receives gradient only from
the examples whose gate picked it. S's kernel is a param behind `stop_gradient`: saved,
loaded and converted like any other, never moved. A layer the gate does not cover
(`gates.is_gated`) is a plain `ConvBN` with the same param names as the plain ResNet.

This is the reference form; faster forms with the same params (tested equal) are in
gated_fast.py.
"""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models.layers import ConvBN, batch_norm, conv_bn

BN_STATS = ('batch', 'selected')


class GatedConvBN(ConvBN, kw_only=True):
  """A `ConvBN` (same fields) whose conv the shared gate splits into F and S."""
  gate: Any        # the model's shared gate module (gates.py)
  gated_bn: bool   # Eq. 5, one BN per branch; False: one BN after the mix (Eq. 6)
  bn_stats: str    # gated BN's batch statistics, BN_STATS (`branch_bn`)

  @nn.compact
  def __call__(self, x, state, train: bool):
    name = '/'.join(self.path)
    if not self.gate.is_gated(name):
      return conv_bn(self, x, train), state
    g, state = self.gate(x, state, name, self.features)  # G: [batch, channels], 1 = F
    f = self.make_conv('conv_ft')(x)                     # F x: the fine-tuned filters
    s = self.make_conv('conv_pre', frozen=True)(x)       # S x: the pretrained ones, frozen
    g = g[:, None, None, :].astype(f.dtype)
    if not self.gated_bn:  # Eq. 6
      return batch_norm(train, self.bn_axis_name, 'bn', self.dtype)(g * f + (1 - g) * s), state
    bn_ft, bn_pre = self.branch_bn('bn_ft', train), self.branch_bn('bn_pre', train)
    return g * bn_ft(f, g) + (1 - g) * bn_pre(s, 1 - g), state  # Eq. 5

  def branch_bn(self, name: str, train: bool):
    """One branch's BN in Eq. 5, called as ``bn(z, picked)``: training statistics over
    the whole batch ('batch'), or over the examples that picked the branch ('selected',
    `SelectedBatchNorm`)."""
    if self.bn_stats == 'selected':
      return SelectedBatchNorm(not train, self.bn_axis_name, self.dtype, name=name)
    if self.bn_stats != 'batch':
      raise ValueError(f'bn_stats must be one of {BN_STATS}, got {self.bn_stats!r}')
    bn = batch_norm(train, self.bn_axis_name, name, self.dtype)
    return lambda z, picked: bn(z)


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
