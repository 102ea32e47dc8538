"""Convolution implementations, all computing `lax.conv_general_dilated` (NHWC, HWIO,
symmetric padding), chosen by `Conv(impl=...)` / `adafilter_resnet(conv_impl=...)`.

Why: on XLA:CPU the forward conv runs at ~50 % of the matmul ceiling but the backward
convs (above all the weight gradient, a contraction over batch and space) run far
below it (ENVIRONMENT.md). A conv written as a matmul has a matmul backward.

- 'xla': `lax.conv_general_dilated`; its VJP is XLA's backward convolutions.
- 'matmul': 1x1 = a dot over channels (stride 2 = slice first); kxk = im2col (k*k
  shifted slices concatenated on channels) then a dot. Autodiff gives matmuls for
  both gradients, and pads + adds (col2im) for dx.
- 'mixed': 1x1 as 'matmul', kxk as 'xla' (im2col's patch copy is slow on XLA:CPU at
  large feature maps; see docs/speed.md for the per-layer figures).
- 'hybrid': forward and dx by XLA's conv, dW by im2col + matmul (custom_vjp).

Per-example kernels (the AdaFilter eval fast path, gated.py): `conv_per_example`.
"""
import functools

import jax
import jax.numpy as jnp

IMPLS = ('xla', 'matmul', 'mixed', 'hybrid')
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
  k, _, cin, cout = w.shape
  return jnp.dot(patches(x, k, stride, pad), w.reshape(k * k * cin, cout))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_hybrid(x, w, stride: int, pad: int):
  return conv_xla(x, w, stride, pad)


def _hybrid_fwd(x, w, stride, pad):
  return conv_xla(x, w, stride, pad), (x, w)


def _hybrid_bwd(stride, pad, res, dy):
  x, w = res
  k, _, cin, cout = w.shape
  _, vjp_x = jax.vjp(lambda x: conv_xla(x, w, stride, pad), x)
  p = patches(x, k, stride, pad).reshape(-1, k * k * cin)
  dw = jnp.dot(p.T, dy.reshape(-1, cout)).reshape(w.shape)
  return vjp_x(dy)[0], dw


conv_hybrid.defvjp(_hybrid_fwd, _hybrid_bwd)


def conv_mixed(x, w, stride: int, pad: int):
  return (conv_matmul if w.shape[0] == w.shape[1] == 1 else conv_xla)(x, w, stride, pad)


CONVS = {'xla': conv_xla, 'matmul': conv_matmul, 'mixed': conv_mixed, 'hybrid': conv_hybrid}


def conv(x, w, stride: int = 1, pad: int = 0, impl: str = 'xla'):
  if impl not in CONVS:
    raise ValueError(f'conv impl must be one of {IMPLS}, got {impl!r}')
  return CONVS[impl](x, w, stride, pad)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def conv_pair(x, wf, ws, stride: int, pad: int, impl: str):
  """conv(x, [wf, ws] on the output axis): F's and S's outputs from ONE convolution.

  The backward gives dx through both kernels (one conv/matmul over 2*Cout channels) and
  the weight gradient of `wf` only; `ws` (AdaFilter's frozen S) gets a zero cotangent,
  so the half of the weight gradient nobody uses is never computed.
  """
  return conv(x, jnp.concatenate([wf, ws], -1), stride, pad, impl)


def _pair_fwd(x, wf, ws, stride, pad, impl):
  return conv_pair(x, wf, ws, stride, pad, impl), (x, wf, ws)


def _pair_bwd(stride, pad, impl, res, dy):
  x, wf, ws = res
  cout = wf.shape[-1]
  w = jnp.concatenate([wf, ws], -1)
  _, vjp_x = jax.vjp(lambda x: conv(x, w, stride, pad, impl), x)
  _, vjp_w = jax.vjp(lambda w: conv(x, w, stride, pad, impl), wf)
  return vjp_x(dy)[0], vjp_w(dy[..., :cout])[0], jnp.zeros_like(ws)


conv_pair.defvjp(_pair_fwd, _pair_bwd)


def conv_per_example(x, w, stride: int = 1, pad: int = 0, impl: str = 'matmul'):
  """y[b] = conv(x[b], w[b]): x [B, H, W, Cin], w [B, k, k, Cin, Cout].

  'matmul': im2col (or the 1x1 slice) then a batched dot, one matmul per example.
  'map': a loop (`lax.map`) of batch-1 `lax.conv`s. On XLA:CPU a batch-1 conv runs
    at nearly a batched conv's rate, so B of them cost about one plain conv.
  'group': one grouped conv (feature_group_count=B) over the batch folded into channels.
  """
  b, k, _, cin, cout = w.shape
  if impl == 'matmul':
    return jnp.einsum('bhwi,bio->bhwo', patches(x, k, stride, pad),
                      w.reshape(b, k * k * cin, cout))
  if impl == 'map':
    return jax.lax.map(lambda xw: conv_xla(xw[0][None], xw[1], stride, pad)[0], (x, w))
  if impl == 'group':
    _, h, wd, _ = x.shape
    xg = x.transpose(1, 2, 0, 3).reshape(1, h, wd, b * cin)
    wg = w.transpose(1, 2, 3, 0, 4).reshape(k, k, cin, b * cout)
    y = jax.lax.conv_general_dilated(xg, wg, (stride, stride), ((pad, pad), (pad, pad)),
                                     dimension_numbers=_DN, feature_group_count=b)
    return y.reshape(y.shape[1], y.shape[2], b, cout).transpose(2, 0, 1, 3)
  raise ValueError(f"per-example conv impl must be 'matmul', 'map' or 'group', got {impl!r}")
