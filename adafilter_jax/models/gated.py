"""The gated unit: AdaFilter's filter selection (Eq. 1) with gated batch norm (Eq. 5).

Per gated conv: a trainable copy ``conv_ft`` (F) and a frozen copy ``conv_pre`` (S) of
the pretrained filters. With decisions G in {0,1}^[batch, channels] from the shared gate:

  gated BN (default, Eq. 5):  y = G * bn_ft(F(x)) + (1 - G) * bn_pre(S(x))
  standard BN (Eq. 6):        y = bn(G * F(x) + (1 - G) * S(x))

Since G multiplies F's output channel-wise, a channel of F receives gradient only from
the examples whose gate picked it. S's kernel is a param behind `stop_gradient`: saved,
loaded and converted like any other, never moved. A layer the gate does not cover
(`gates.is_gated`) is a plain `ConvBN` with the same param names as the plain ResNet.
"""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models.layers import Conv, batch_norm, conv_bn


class GatedConvBN(nn.Module):
  features: int
  kernel_size: int
  strides: int = 1
  padding: int = 0
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  gate: Any = None              # the model's shared gate module (gates.py)
  gated_bn: bool = True         # Eq. 5; False: one BN after the mix (Eq. 6)
  bn_stats: str = 'batch'       # gated BN's batch statistics: 'batch' | 'selected'

  @nn.compact
  def __call__(self, x, state, train: bool):
    name = '/'.join(self.path)
    if not self.gate.is_gated(name):
      return conv_bn(self, x, train), state
    g, state = self.gate(x, state, name, self.features)
    conv = dict(features=self.features, kernel_size=self.kernel_size, strides=self.strides,
                padding=self.padding, dtype=self.dtype)
    f = Conv(**conv, name='conv_ft')(x)
    s = Conv(**conv, frozen=True, name='conv_pre')(x)
    g = g[:, None, None, :].astype(f.dtype)
    bn = lambda name: batch_norm(train, self.bn_axis_name, name, self.dtype)
    if not self.gated_bn:
      return bn('bn')(g * f + (1 - g) * s), state
    if self.bn_stats == 'selected':
      sel = lambda name: SelectedBatchNorm(not train, self.bn_axis_name, self.dtype, name=name)
      return g * sel('bn_ft')(f, g) + (1 - g) * sel('bn_pre')(s, 1 - g), state
    if self.bn_stats != 'batch':
      raise ValueError(f"bn_stats must be 'batch' or 'selected', got {self.bn_stats!r}")
    return g * bn('bn_ft')(f) + (1 - g) * bn('bn_pre')(s), state


class SelectedBatchNorm(nn.Module):
  """A branch's BN whose batch statistics come only from the examples whose gate picked
  that branch (METHOD.md's alternative reading of Eq. 5).

  Same variables as `nn.BatchNorm` (so weights transfer alike). flax's own `mask` takes
  a mean over an empty selection (NaN) and averages per-device means under pmap, which is
  wrong for unequal counts; here sums and counts are reduced, a channel nobody picked
  keeps its running statistics, and its (unused) output stays finite.
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
      w = jnp.broadcast_to(weight, x.shape).astype(jnp.float32)
      sums = (w.sum((0, 1, 2)), (w * xf).sum((0, 1, 2)), (w * xf * xf).sum((0, 1, 2)))
      if self.axis_name is not None:
        sums = jax.lax.psum(sums, self.axis_name)
      n, s1, s2 = sums
      mean = s1 / jnp.maximum(n, 1)
      var = jnp.maximum(s2 / jnp.maximum(n, 1) - mean * mean, 0)
      if not self.is_initializing():
        seen = n > 0
        m = self.momentum
        ra_mean.value = jnp.where(seen, m * ra_mean.value + (1 - m) * mean, ra_mean.value)
        ra_var.value = jnp.where(seen, m * ra_var.value + (1 - m) * var, ra_var.value)
    y = (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias
    return y.astype(self.dtype)
