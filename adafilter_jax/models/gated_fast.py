"""Faster forms of the gated unit (gated.py), same params, tested equal to it
(tests/speed/); `EVAL_IMPLS` maps `config.adafilter.eval_impl` to one, and
docs/speed.md says where each wins.

Test time with one convolution per layer: with hard gates and eval BN (an affine map
a*z + c from running statistics), per example the gated layer IS one conv with the
mixed kernel G*a_ft*F + (1-G)*a_pre*S and bias G*c_ft + (1-G)*c_pre (Eq. 6: a*(G F +
(1-G) S) and c), so a layer costs the FLOPs of a plain ResNet's, computed per example:

- 'fused_all': in every gated layer, as per-example matmuls (im2col for kxk).
- 'fused': only in the layers where that is faster on XLA:CPU, each with its fastest
  per-example conv (`FusedEvalGatedConvBN.per_example_impl`); the rest two-branch.
"""
import functools
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models import convs
from adafilter_jax.models.gated import GatedConvBN

FUSE_MIN_PIXELS = 100  # 'fused': layers with at least this many output pixels


class FusedEvalGatedConvBN(GatedConvBN, kw_only=True):
  """`GatedConvBN`; at test time one per-example conv of gate-mixed, BN-folded kernels."""
  per_layer: bool  # True: 'fused' (where faster on CPU); False: 'fused_all' (everywhere)

  @nn.compact
  def __call__(self, x, state, train: bool):
    impl = None if train or self.is_initializing() else self.per_example_impl(x)
    name = '/'.join(self.path)
    if impl is None or not self.gate.is_gated(name):
      return super().__call__(x, state, train)
    g, state = self.gate(x, state, name, self.features)
    wf = self.make_conv('conv_ft')(x, kernel_only=True)
    ws = self.make_conv('conv_pre', frozen=True)(x, kernel_only=True)
    return self.fused(x, g, wf, ws, impl), state

  def per_example_impl(self, x) -> Optional[str]:
    """How this layer runs its one conv per example (convs.conv_per_example), or None
    for the two-branch form.

    'fused' picks per layer what is fastest on XLA:CPU (docs/speed.md): on maps of
    >= FUSE_MIN_PIXELS output pixels, 1x1 convs as per-example matmuls and kxk convs as
    a loop of batch-1 convs; on smaller maps (ResNet-50's layer4 at 224 px) the B
    per-example kernels cost more memory traffic than the second conv, so two-branch.
    """
    if not self.per_layer:
      return 'matmul'
    ho, wo = (convs.out_size(n, self.kernel_size, self.strides, self.padding)
              for n in x.shape[1:3])
    if ho * wo < FUSE_MIN_PIXELS:
      return None
    return 'matmul' if self.kernel_size == 1 else 'map'

  def fused(self, x, g, kernel_ft, kernel_pre, impl: str):
    """y[b] = conv(x[b], W[b]) + c[b], W/c the gate-mixed, BN-folded kernel/bias."""
    g = g.astype(jnp.float32)
    if self.gated_bn:  # y = G (a_ft F x + c_ft) + (1 - G)(a_pre S x + c_pre)
      (a_ft, c_ft), (a_pre, c_pre) = _EvalBN(name='bn_ft')(), _EvalBN(name='bn_pre')()
      mult_ft, mult_pre, bias = g * a_ft, (1 - g) * a_pre, g * c_ft + (1 - g) * c_pre
    else:  # y = a (G F x + (1 - G) S x) + c
      a, c = _EvalBN(name='bn')()
      mult_ft, mult_pre, bias = g * a, (1 - g) * a, jnp.broadcast_to(c, g.shape)
    w = (kernel_ft[None] * mult_ft[:, None, None, None, :] +
         kernel_pre[None] * mult_pre[:, None, None, None, :])
    y = convs.conv_per_example(x.astype(self.dtype), w.astype(self.dtype), self.strides,
                               self.padding, impl)
    return (y + bias[:, None, None, :].astype(y.dtype)).astype(self.dtype)


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


# config.adafilter.eval_impl -> the gated unit.
EVAL_IMPLS = {
    'two_branch': GatedConvBN,
    'fused': functools.partial(FusedEvalGatedConvBN, per_layer=True),
    'fused_all': functools.partial(FusedEvalGatedConvBN, per_layer=False),
}
