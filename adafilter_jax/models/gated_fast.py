"""AdaFilter's test-time fast path, one convolution per gated layer
(``config.adafilter.eval_impl``; transform.py calls it for the conv and norm classes it
knows, `layers.Conv` + `nn.BatchNorm`; tested equal to the two-branch form in
tests/models/test_gated_variants.py; docs/speed.md says where each wins).

With hard gates and eval BN (an affine map a*z + c from running statistics), per example
the gated layer IS one conv with the mixed kernel G*a_ft*F + (1-G)*a_pre*S and bias
G*c_ft + (1-G)*c_pre (Eq. 6: a*(G F + (1-G) S) and c), so a layer costs the FLOPs of a
plain ResNet's, computed per example:

- 'fused_all': in every gated layer, as per-example matmuls (im2col for kxk).
- 'fused': only in the layers where that is faster on XLA:CPU, each with its fastest
  per-example conv (`per_example_impl`); the rest two-branch.
"""
from typing import Optional

import jax
import jax.numpy as jnp

from adafilter_jax.models import convs

EVAL_IMPLS = ('two_branch', 'fused', 'fused_all')
FUSE_MIN_PIXELS = 100  # 'fused': layers with at least this many output pixels


def per_example_impl(eval_impl: str, x_shape, kernel_size: int, strides: int,
                     padding: int) -> Optional[str]:
  """How a gated layer runs its one conv per example (convs.conv_per_example), or None
  for the two-branch form.

  'fused' picks per layer what is fastest on XLA:CPU (docs/speed.md): on maps of
  >= FUSE_MIN_PIXELS output pixels, 1x1 convs as per-example matmuls and kxk convs as
  a loop of batch-1 convs; on smaller maps (ResNet-50's layer4 at 224 px) the B
  per-example kernels cost more memory traffic than the second conv, so two-branch.
  """
  if eval_impl not in EVAL_IMPLS:
    raise ValueError(f'unknown adafilter.eval_impl {eval_impl!r}; expected one of '
                     f'{EVAL_IMPLS}')
  if eval_impl == 'two_branch':
    return None
  if eval_impl == 'fused_all':
    return 'matmul'
  ho, wo = (convs.out_size(n, kernel_size, strides, padding) for n in x_shape[1:3])
  if ho * wo < FUSE_MIN_PIXELS:
    return None
  return 'matmul' if kernel_size == 1 else 'map'


def eval_affine(bn_vars, epsilon: float):
  """A BN's eval affine map (a, c), y = a * x + c, from its variables ({'params':
  scale, bias; 'batch_stats': mean, var}, as `nn.BatchNorm` names them)."""
  p, s = bn_vars['params'], bn_vars['batch_stats']
  a = p['scale'] * jax.lax.rsqrt(s['var'] + epsilon)
  return a, p['bias'] - s['mean'] * a


def fused(x, g, kernel_ft, kernel_pre, affine_ft, affine_pre, strides: int, padding: int,
          impl: str, dtype):
  """Eq. 5 at test time: y[b] = conv(x[b], W[b]) + c[b], W/c the gate-mixed, BN-folded
  kernel and bias; affine_pre None: Eq. 6, a single BN (`affine_ft`) after the mix."""
  g = g.astype(jnp.float32)
  if affine_pre is not None:  # y = G (a_ft F x + c_ft) + (1 - G)(a_pre S x + c_pre)
    (a_ft, c_ft), (a_pre, c_pre) = affine_ft, affine_pre
    mult_ft, mult_pre, bias = g * a_ft, (1 - g) * a_pre, g * c_ft + (1 - g) * c_pre
  else:  # y = a (G F x + (1 - G) S x) + c
    a, c = affine_ft
    mult_ft, mult_pre, bias = g * a, (1 - g) * a, jnp.broadcast_to(c, g.shape)
  w = (kernel_ft[None] * mult_ft[:, None, None, None, :] +
       kernel_pre[None] * mult_pre[:, None, None, None, :])
  y = convs.conv_per_example(x.astype(dtype), w.astype(dtype), strides, padding, impl)
  return (y + bias[:, None, None, :].astype(y.dtype)).astype(dtype)
