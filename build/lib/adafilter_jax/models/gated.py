"""The gated unit: AdaFilter's filter selection (Eq. 1) with gated batch norm (Eq. 5).

Per gated conv: a trainable copy ``conv_ft`` (F) and a frozen copy ``conv_pre`` (S) of
the pretrained filters. With decisions G in {0,1}^[batch, channels] from the shared gate:

  gated BN (default, Eq. 5):  y = G * bn_ft(F(x)) + (1 - G) * bn_pre(S(x))
  standard BN (Eq. 6):        y = bn(G * F(x) + (1 - G) * S(x))

Since G multiplies F's output channel-wise, a channel of F receives gradient only from
the examples whose gate picked it. S's kernel is a param behind `stop_gradient`: saved,
loaded and converted like any other, never moved. A layer the gate does not cover
(`gates.is_gated`) is a plain `ConvBN` with the same param names as the plain ResNet.

Speed variants (docs/speed.md), same params, same outputs (tests/speed/):
- eval_impl='fused_all' (eval only): per example the layer IS one conv with the mixed
  kernel G*a_ft*F + (1-G)*a_pre*S and bias G*c_ft + (1-G)*c_pre (eval BN is the affine
  map a*z + c), so one convolution per layer, the FLOPs of a plain ResNet, computed as
  per-example matmuls; 'fused_map' computes it as a loop of batch-1 convs,
  'fused_group' as one grouped conv; 'fused' takes it only in the layers where it is
  faster on CPU, each with its fastest per-example conv (`_fuse`).
- train_impl='concat' (training only): F and S as ONE conv over [F, S] concatenated
  on the output axis, whose custom backward skips S's weight gradient.
- train_impl='remat' (training, gated BN with batch statistics): the backward keeps
  x, F(x) and G and recomputes S(x), both BNs and the mix, for memory.
"""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models import convs
from adafilter_jax.models.layers import Conv, ConvBN, batch_norm, conv_bn

TRAIN_IMPLS = ('two_branch', 'concat', 'remat')
EVAL_IMPLS = ('two_branch', 'fused', 'fused_all', 'fused_map', 'fused_group')
FUSE_MIN_PIXELS = 100  # 'fused': layers with at least this many output pixels


class GatedConvBN(ConvBN):
  """A `ConvBN` (same fields) whose conv the shared gate splits into F and S."""
  gate: Any = None              # the model's shared gate module (gates.py)
  gated_bn: bool = True         # Eq. 5; False: one BN after the mix (Eq. 6)
  bn_stats: str = 'batch'       # gated BN's batch statistics: 'batch' | 'selected'
  train_impl: str = 'two_branch'  # TRAIN_IMPLS
  eval_impl: str = 'two_branch'   # EVAL_IMPLS

  @nn.compact
  def __call__(self, x, state, train: bool):
    name = '/'.join(self.path)
    if not self.gate.is_gated(name):
      return conv_bn(self, x, train), state
    if self.train_impl not in TRAIN_IMPLS or self.eval_impl not in EVAL_IMPLS:
      raise ValueError(f'train_impl must be in {TRAIN_IMPLS}, eval_impl in {EVAL_IMPLS}; '
                       f'got {self.train_impl!r}, {self.eval_impl!r}')
    g, state = self.gate(x, state, name, self.features)
    conv = dict(features=self.features, kernel_size=self.kernel_size, strides=self.strides,
                padding=self.padding, dtype=self.dtype, impl=self.conv_impl)
    conv_ft = Conv(**conv, name='conv_ft')
    if self.train_impl == 'remat' and train and self._remat_applies():
      # S(x) is not saved for the backward: recomputed there with the BNs and the mix.
      f = conv_ft(x)
      return nn.remat(lambda unit, x, f, g: _frozen_branch_and_mix(unit, x, f, g, conv))(
          self, x, f, g[:, None, None, :].astype(f.dtype)), state
    conv_pre = Conv(**conv, frozen=True, name='conv_pre')
    impl = None if train or self.is_initializing() else self._fuse(x)
    if impl is not None:
      return self._fused(x, g, conv_ft(x, True), conv_pre(x, True), impl), state
    if self.train_impl == 'concat' and train:
      # Training only: in eval there is no weight gradient to skip, and the kernel
      # concatenation makes one conv over [F, S] slower than two (docs/speed.md).
      f, s = jnp.split(convs.conv_pair(
          x.astype(self.dtype), conv_ft(x, True).astype(self.dtype),
          conv_pre(x, True).astype(self.dtype), self.strides, self.padding,
          self.conv_impl), 2, axis=-1)
    else:
      f, s = conv_ft(x), conv_pre(x)
    g = g[:, None, None, :].astype(f.dtype)
    if not self.gated_bn:
      return batch_norm(train, self.bn_axis_name, 'bn', self.dtype)(g * f + (1 - g) * s), state
    if self.bn_stats == 'selected':
      sel = lambda name: SelectedBatchNorm(not train, self.bn_axis_name, self.dtype, name=name)
      return g * sel('bn_ft')(f, g) + (1 - g) * sel('bn_pre')(s, 1 - g), state
    if self.bn_stats != 'batch':
      raise ValueError(f"bn_stats must be 'batch' or 'selected', got {self.bn_stats!r}")
    return _gated_bn(self, f, s, g, train), state

  def _remat_applies(self) -> bool:
    """'remat' is written for the default gated BN; other forms train as two-branch."""
    return self.gated_bn and self.bn_stats == 'batch' and not self.is_initializing()

  def _fuse(self, x) -> Optional[str]:
    """The per-example conv impl of this layer's one-conv eval path, None for two-branch.

    'fused' picks per layer what is fastest on XLA:CPU (docs/speed.md): on maps of
    >= FUSE_MIN_PIXELS output pixels, 1x1 convs as per-example matmuls and kxk convs as
    a loop of batch-1 convs; on smaller maps (ResNet-50's layer4 at 224 px) the B
    per-example kernels cost more memory traffic than the second conv, so two-branch.
    """
    forced = {'fused_all': 'matmul', 'fused_map': 'map', 'fused_group': 'group'}
    if self.eval_impl in forced:
      return forced[self.eval_impl]
    if self.eval_impl != 'fused':
      return None
    ho, wo = (convs.out_size(n, self.kernel_size, self.strides, self.padding)
              for n in x.shape[1:3])
    if ho * wo < FUSE_MIN_PIXELS:
      return None
    return 'matmul' if self.kernel_size == 1 else 'map'

  def _fused(self, x, g, wf, ws, impl: str):
    """Eval: y[b] = conv(x[b], W[b]) + c[b], W/c the gate-mixed, BN-folded kernel/bias."""
    g = g.astype(jnp.float32)
    if self.gated_bn:  # y = G (a_f F x + c_f) + (1 - G)(a_s S x + c_s)
      (af, cf), (as_, cs) = _EvalBN(name='bn_ft')(), _EvalBN(name='bn_pre')()
      kf, ks, bias = g * af, (1 - g) * as_, g * cf + (1 - g) * cs
    else:  # y = a (G F x + (1 - G) S x) + c
      a, c = _EvalBN(name='bn')()
      kf, ks, bias = g * a, (1 - g) * a, jnp.broadcast_to(c, g.shape)
    w = wf[None] * kf[:, None, None, None, :] + ws[None] * ks[:, None, None, None, :]
    y = convs.conv_per_example(x.astype(self.dtype), w.astype(self.dtype), self.strides,
                               self.padding, impl)
    return (y + bias[:, None, None, :].astype(y.dtype)).astype(self.dtype)


def _gated_bn(unit, f, s, g, train: bool):
  """Eq. 5: G * bn_ft(F x) + (1 - G) * bn_pre(S x), the BNs children of `unit`."""
  bn = lambda name: batch_norm(train, unit.bn_axis_name, name, unit.dtype)
  return g * bn('bn_ft')(f) + (1 - g) * bn('bn_pre')(s)


def _frozen_branch_and_mix(unit, x, f, g, conv):
  """What train_impl='remat' recomputes in the backward: S(x) and the gated BN, so that
  only x, F(x) and G are saved (as a plain unit saves x and its conv output)."""
  return _gated_bn(unit, f, Conv(**conv, frozen=True, name='conv_pre')(x), g, True)


class _EvalBN(nn.Module):
  """A BN's eval affine map (a, c), y = a * x + c, read from the same variables (names,
  shapes, inits) as `nn.BatchNorm` / `SelectedBatchNorm`, which share them."""
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self):
    c = self.get_variable('params', 'scale').shape[0]
    scale = self.param('scale', nn.initializers.ones, (c,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (c,), jnp.float32)
    mean = self.variable('batch_stats', 'mean', lambda: jnp.zeros(c, jnp.float32)).value
    var = self.variable('batch_stats', 'var', lambda: jnp.ones(c, jnp.float32)).value
    a = scale * jax.lax.rsqrt(var + self.epsilon)
    return a, bias - mean * a


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
