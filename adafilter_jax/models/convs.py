"""Convolution implementations, all computing `lax.conv_general_dilated` (NHWC, HWIO,
symmetric padding), chosen by `config.model.conv_impl` (docs/speed.md).

Why: on XLA:CPU the forward conv runs at ~50 % of the matmul ceiling but the backward
convs (above all the weight gradient, a contraction over batch and space) run far
below it. A conv written as a matmul has a matmul backward.

- 'xla': `lax.conv_general_dilated`; its VJP is XLA's backward convolutions.
- 'mixed': 1x1 convs as a dot over channels (stride 2 = slice first), whose gradients
  are matmuls; kxk convs as 'xla' (im2col's patch copy is slower than XLA's conv on
  large feature maps on XLA:CPU; docs/speed.md has the per-layer figures).

Per-example kernels (AdaFilter's fused eval, gated_fast.py): `conv_per_example`.
"""
import jax
import jax.numpy as jnp

IMPLS = ('xla', 'mixed')
PER_EXAMPLE_IMPLS = ('matmul', 'map')
_DN = ('NHWC', 'HWIO', 'NHWC')


def conv_xla(x, w, stride: int, pad: int):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                      dimension_numbers=_DN)


def out_size(n: int, k: int, stride: int, pad: int) -> int:
  """Output length of a conv along an axis of length n (symmetric padding)."""
  return (n + 2 * pad - k) // stride + 1


def patches(x, k: int, stride: int, pad: int):
  """im2col: [B, Ho, Wo, k*k*C], channel order (i, j, c) = HWIO's reshape order."""
  _, h, w, _ = x.shape
  ho, wo = out_size(h, k, stride, pad), out_size(w, k, stride, pad)
  if pad:
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  cols = [x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride, :]
          for i in range(k) for j in range(k)]
  return cols[0] if len(cols) == 1 else jnp.concatenate(cols, -1)


def conv_matmul(x, w, stride: int, pad: int):
  """im2col (for 1x1: the strided slice) then one dot."""
  k, _, cin, cout = w.shape
  return jnp.dot(patches(x, k, stride, pad), w.reshape(k * k * cin, cout))


def conv_mixed(x, w, stride: int, pad: int):
  return (conv_matmul if w.shape[0] == w.shape[1] == 1 else conv_xla)(x, w, stride, pad)


CONVS = {'xla': conv_xla, 'mixed': conv_mixed}


def conv(x, w, stride: int = 1, pad: int = 0, impl: str = 'xla'):
  if impl not in CONVS:
    raise ValueError(f'conv impl (config.model.conv_impl) must be one of {IMPLS}, '
                     f'got {impl!r}')
  return CONVS[impl](x, w, stride, pad)


def conv_per_example(x, w, stride: int = 1, pad: int = 0, impl: str = 'matmul'):
  """y[b] = conv(x[b], w[b]): x [B, H, W, Cin], w [B, k, k, Cin, Cout].

  'matmul': im2col (or the 1x1 slice) then a batched dot, one matmul per example.
  'map': a loop (`lax.map`) of batch-1 `lax.conv`s. On XLA:CPU a batch-1 conv runs
    at nearly a batched conv's rate, so B of them cost about one plain conv.
  """
  b, k, _, cin, cout = w.shape
  if impl == 'matmul':
    return jnp.einsum('bhwi,bio->bhwo', patches(x, k, stride, pad),
                      w.reshape(b, k * k * cin, cout))
  if impl == 'map':
    return jax.lax.map(lambda xw: conv_xla(xw[0][None], xw[1], stride, pad)[0], (x, w))
  raise ValueError(f'per-example conv impl must be one of {PER_EXAMPLE_IMPLS}, got {impl!r}')
