"""Lean conv + batch norm units for training: the same numbers as `layers.Conv` followed
by `layers.batch_norm` (flax's `nn.BatchNorm`, training mode), with a backward that keeps
only what it needs (docs/speed.md, "Per-unit account").

Written as autodiff sees them, a conv and flax's BatchNorm keep for the backward x, 2z
(z the conv output; 2z for the variance's square) and z - mean; a gated unit keeps these
per branch, and both branches' BN outputs for the gate's gradient. Here each unit is one
`jax.custom_vjp` whose residuals are the conv input x, the pre-BN conv output(s), the
gate decisions and per-channel statistics; the backward recomputes (z - mean) * rstd
and the BN outputs elementwise, and transposes the convs by `jax.vjp` of the forward
conv.

- `conv_bn`: y = BN(conv(x, W)).
- `gated_conv_bn`: AdaFilter's Eq. 5, y = G ? BN_ft(F x) : BN_pre(S x), S frozen.
- `gated_conv_bn_eq6`: Eq. 6, y = BN(G ? F x : S x).

Every unit returns its batch statistics (mean, biased var; float32, or wider for wider
inputs) for the caller's running averages (`running`), as `nn.BatchNorm` updates them.
For a flax model's bound `layers.Conv` + `nn.BatchNorm` pair (an interceptor's view):
`unit_kwargs` says whether a lean unit computes what they do and with which arguments,
`update_batch_stats` moves the norm's running averages.
Statistics are those of flax: E[z^2] - E[z]^2 clipped at 0, over the global batch with
`axis_name` (pmean across devices). The gate's gradient is the product form's (`mix`).

XLA would otherwise undo the plan: its CSE merges the backward's (z - mean) and a
recomputed S(x) with the forward's, and its scheduler runs backward work that needs only
residuals (those elementwise passes, the layout copies of x for the weight gradient)
early, in the forward, keeping the results alive between the passes. So each backward
reads its residuals through one `lax.optimization_barrier` together with its incoming
cotangents (`_in_backward`). XLA:GPU keeps barriers until after scheduling; XLA:CPU only
with its `cse_barrier_expander` pass off, as main.py compiles a step with lean units
(train/parallel.py's `compiler_options`).
"""
import functools
from typing import NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models import convs
from adafilter_jax.models import layers
from adafilter_jax.models.ste import mix


class Spec(NamedTuple):
  """The static part of a unit: its convs (`layers.Conv`'s fields) and BN."""
  strides: int = 1
  padding: int = 0
  impl: str = 'xla'
  epsilon: float = 1e-5
  axis_name: Optional[str] = None
  recompute_s: str = 'none'  # RECOMPUTE_S


# Where a gated unit's backward gets S(x): kept from the forward ('none'), recomputed from
# x ('all'), or recomputed where S(x) has more elements than x ('expanding': a bottleneck's
# last 1x1, a widening projection). x is kept anyway (F's weight gradient), so
# recomputing costs one more conv of S and frees S(x); where S(x) is the larger tensor,
# that frees the most of what the step keeps for S (docs/speed.md).
RECOMPUTE_S = ('none', 'expanding', 'all')


def recompute_policy(value) -> str:
  """`recompute_s` as one of RECOMPUTE_S; a bool (runs saved before the policies, the
  Python API's switch) reads as 'all' (True) or 'none' (False)."""
  if isinstance(value, bool) or value is None:
    return 'all' if value else 'none'
  if value not in RECOMPUTE_S:
    raise ValueError(f'adafilter.recompute_s={value!r}: expected one of {RECOMPUTE_S} '
                     '(or a bool: True is \'all\', False \'none\')')
  return value


def _keeps_s(spec: Spec, x, s) -> bool:
  """Whether the unit's backward keeps S(x) (else recomputes it from x)."""
  return spec.recompute_s == 'none' or (spec.recompute_s == 'expanding' and s.size <= x.size)


def running(average, batch, momentum: float = 0.9):
  """`nn.BatchNorm`'s update of a running statistic by this batch's."""
  return momentum * average + (1 - momentum) * batch


def unit_kwargs(conv: nn.Module, norm: nn.Module) -> Optional[dict]:
  """The keyword arguments of a lean unit that computes what the bound modules `conv` (a
  `layers.Conv`) then `norm` (an `nn.BatchNorm` on its output, training mode) compute,
  or None where it would not (another class, or a BN setting the lean unit lacks)."""
  if not (isinstance(conv, layers.Conv) and isinstance(norm, nn.BatchNorm)):
    return None
  if (norm.axis not in (-1, (-1,)) or not (norm.use_scale and norm.use_bias)
      or not norm.use_fast_variance or not norm.force_float32_reductions
      or norm.axis_index_groups is not None or norm.dtype != conv.dtype
      or norm.param_dtype != jnp.float32):
    return None
  return dict(strides=conv.strides, padding=conv.padding, dtype=conv.dtype, impl=conv.impl,
              axis_name=norm.axis_name, epsilon=norm.epsilon)


def kernel(conv: nn.Module):
  """The bound `layers.Conv`'s kernel as its call reads it (behind stop_gradient if frozen)."""
  w = conv.get_variable('params', 'kernel')
  return jax.lax.stop_gradient(w) if conv.frozen else w


def affine(norm: nn.Module):
  """The bound `nn.BatchNorm`'s (scale, bias)."""
  return norm.get_variable('params', 'scale'), norm.get_variable('params', 'bias')


def runs_lean(conv: nn.Module, norm: nn.Module, norm_args=(), norm_kwargs=None) -> Optional[dict]:
  """`unit_kwargs` where the norm's call (its extra arguments) is a plain training-mode
  call: not initializing (flax creates the variables then), no mask, batch statistics."""
  norm_kwargs = norm_kwargs or {}
  if (conv.is_initializing() or norm_args
      or any(v is not None for v in norm_kwargs.values()) or norm.use_running_average):
    return None
  return unit_kwargs(conv, norm)


def plain_unit(conv: nn.Module, norm: nn.Module, x, norm_args=(), norm_kwargs=None):
  """What the bound `conv` then `norm` (training) compute on x, as `conv_bn`, the norm's
  running averages updated; None where `runs_lean` says no (the caller calls them)."""
  kw = runs_lean(conv, norm, norm_args, norm_kwargs)
  if kw is None:
    return None
  y, mean, var = conv_bn(x, kernel(conv), *affine(norm), **kw)
  update_batch_stats(norm, mean, var)
  return y


def update_batch_stats(norm: nn.Module, mean, var):
  """What the bound `nn.BatchNorm` `norm` does with a batch's statistics in training:
  moves its running averages by 1 - momentum (not while initializing, as flax)."""
  if norm.is_initializing():
    return
  for name, batch in (('mean', mean), ('var', var)):
    norm.put_variable('batch_stats', name,
                      running(norm.get_variable('batch_stats', name), batch, norm.momentum))


def _conv(spec: Spec, x, w):
  return convs.conv(x, w, spec.strides, spec.padding, spec.impl)


def _stats(z, axis_name):
  """Per-channel mean and biased variance as flax computes them (`use_fast_variance`)."""
  z = z.astype(jnp.promote_types(z.dtype, jnp.float32))
  axes = tuple(range(z.ndim - 1))
  moments = jnp.stack([z.mean(axes), jnp.square(z).mean(axes)])
  if axis_name is not None:
    moments = jax.lax.pmean(moments, axis_name)
  mean, mean2 = moments
  return mean, jnp.maximum(0.0, mean2 - jnp.square(mean))


def _normalize(z, mean, rstd, scale, bias):
  """flax's `_normalize`, in its order of operations, cast back to z's dtype."""
  return ((z - mean) * (rstd * scale) + bias).astype(z.dtype)


def _bn_forward(z, scale, bias, spec: Spec):
  mean, var = _stats(z, spec.axis_name)
  rstd = jax.lax.rsqrt(var + spec.epsilon)
  return _normalize(z, mean, rstd, scale, bias), mean, var, rstd


def _bn_backward(z, mean, rstd, scale, dy, dmean, dvar, axis_name):
  """The VJP of (y, mean, var) = BN(z) at batch statistics -> (dz, dscale, dbias).
  dmean, dvar: the cotangents of the returned statistics (zero in a train step)."""
  axes = tuple(range(z.ndim - 1))
  xhat = (z - mean) * rstd
  dy = dy.astype(mean.dtype)
  return _bn_from_sums(z, xhat, rstd, scale, dy, dy.sum(axes), (dy * xhat).sum(axes),
                       dmean, dvar, axis_name)


def _bn_from_sums(z, xhat, rstd, scale, dy, dbias, dscale, dmean, dvar, axis_name):
  """`_bn_backward` given dy's sums over the batch, dbias = sum dy and dscale =
  sum dy * xhat -> (dz, dscale, dbias)."""
  n = z.size // z.shape[-1]
  means = jnp.stack([dbias / n, dscale / n, dmean / n, 2 * dvar / (n * rstd)])
  if axis_name is not None:   # each device's z moves the global statistics
    means = jax.lax.pmean(means, axis_name)
  mean_dy, mean_dyx, via_mean, via_var = means
  dz = rstd * scale * (dy - mean_dy - xhat * mean_dyx) + via_mean + xhat * via_var
  return dz.astype(z.dtype), dscale, dbias


def _in_backward(res, cts):
  """The residuals and cotangents as a backward reads them: through one barrier with the
  incoming cotangents, so that XLA neither merges the backward's recomputations with the
  forward (CSE) nor schedules them, or the layout copies of x for dW, before the
  cotangents exist, i.e. into the forward, keeping their results alive between the passes."""
  return jax.lax.optimization_barrier((res, cts))


# ---- the plain unit -------------------------------------------------------------------

@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _conv_bn(spec, x, w, scale, bias):
  z = _conv(spec, x, w)
  y, mean, var, _ = _bn_forward(z, scale, bias, spec)
  return y, mean, var


def _conv_bn_fwd(spec, x, w, scale, bias):
  z = _conv(spec, x, w)
  y, mean, var, rstd = _bn_forward(z, scale, bias, spec)
  return (y, mean, var), (x, w, z, mean, rstd, scale)


def _conv_bn_bwd(spec, res, cts):
  (x, w, z, mean, rstd, scale), cts = _in_backward(res, cts)
  dz, dscale, dbias = _bn_backward(z, mean, rstd, scale, *cts, spec.axis_name)
  dx, dw = jax.vjp(functools.partial(_conv, spec), x, w)[1](dz)
  return dx, dw, dscale, dbias


_conv_bn.defvjp(_conv_bn_fwd, _conv_bn_bwd)


def conv_bn(x, kernel, scale, bias, *, strides: int = 1, padding: int = 0,
            dtype=jnp.float32, axis_name: Optional[str] = None, epsilon: float = 1e-5,
            impl: str = 'xla'):
  """y = BN(conv(x, kernel)) in training mode -> (y, batch mean, batch var).

  x: [B, H, W, Cin]; kernel: HWIO; scale, bias: [Cout]. x and kernel are computed in
  `dtype` (as `layers.Conv` casts them), y comes out in `dtype`; the statistics in float32.
  """
  spec = Spec(strides, padding, impl, epsilon, axis_name)
  return _conv_bn(spec, x.astype(dtype), kernel.astype(dtype), scale, bias)


# ---- the gated units ------------------------------------------------------------------

def _gated_forward(spec, x, w_f, w_s, scale_f, bias_f, scale_s, bias_s, g):
  f, s = _conv(spec, x, w_f), _conv(spec, x, w_s)
  a, mean_f, var_f, rstd_f = _bn_forward(f, scale_f, bias_f, spec)
  b, mean_s, var_s, rstd_s = _bn_forward(s, scale_s, bias_s, spec)
  y = mix(g, a, b)
  return (y, (mean_f, var_f), (mean_s, var_s)), (f, s, rstd_f, rstd_s)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _gated(spec, x, w_f, w_s, scale_f, bias_f, scale_s, bias_s, g):
  return _gated_forward(spec, x, w_f, w_s, scale_f, bias_f, scale_s, bias_s, g)[0]


def _gated_fwd(spec, x, w_f, w_s, scale_f, bias_f, scale_s, bias_s, g):
  out, (f, s, rstd_f, rstd_s) = _gated_forward(spec, x, w_f, w_s, scale_f, bias_f,
                                               scale_s, bias_s, g)
  _, (mean_f, _), (mean_s, _) = out
  stats = (mean_f, rstd_f, scale_f, bias_f, mean_s, rstd_s, scale_s, bias_s)
  return out, (x, w_f, w_s, f, s if _keeps_s(spec, x, s) else None, g, stats)


def _s_of(spec, x, w_s, s):
  """S(x): kept, or recomputed from x (read through `_in_backward`)."""
  return _conv(spec, x, w_s) if s is None else s


def _branch_grads(spec, x, w_f, w_s, df, ds):
  """dx through both convs, and F's dW (S is frozen: no weight-gradient conv)."""
  dx, dw_f = jax.vjp(functools.partial(_conv, spec), x, w_f)[1](df)
  dx_s, = jax.vjp(lambda x: _conv(spec, x, w_s), x)[1](ds)
  return dx + dx_s, dw_f


def _gated_bwd(spec, res, cts):
  """Eq. 5's VJP from three per-example sums over the pixels, taken in one pass over dy, F(x)
  and S(x): P = sum dy, C_F = rstd_F sum dy (F - mean_F), C_S alike. With a = BN_ft(F x),
  b = BN_pre(S x) and dy's share da = G dy, db = (1 - G) dy (the mix's straight-through
  backward, ste.mix): dG = (scale_F C_F + bias_F P) - (scale_S C_S + bias_S P), which is
  sum dy (a - b), zero where either side is not finite, as `mix` guards it; each BN's sums
  sum da = sum_b G P and sum da xhat = sum_b G C_F (alike with 1 - G), from which
  `_bn_input_grad` makes dF and dS, the only other passes over the full tensors."""
  (x, w_f, w_s, f, s, g, stats), cts = _in_backward(res, cts)
  s = _s_of(spec, x, w_s, s)
  mean_f, rstd_f, scale_f, bias_f, mean_s, rstd_s, scale_s, bias_s = stats
  dy, (dmean_f, dvar_f), (dmean_s, dvar_s) = cts
  wide = mean_f.dtype
  pixels = tuple(range(1, f.ndim - 1))
  dyw = dy.astype(wide)
  p = dyw.sum(pixels)
  c_f = rstd_f * (dyw * (f.astype(wide) - mean_f)).sum(pixels)
  c_s = rstd_s * (dyw * (s.astype(wide) - mean_s)).sum(pixels)
  via_a, via_b = scale_f * c_f + bias_f * p, scale_s * c_s + bias_s * p
  dg = jnp.where(jnp.isfinite(via_a) & jnp.isfinite(via_b), via_a - via_b, 0)
  pick = g.astype(wide)
  df, dscale_f, dbias_f = _bn_input_grad(f, mean_f, rstd_f, scale_f, dyw, pick, p, c_f,
                                         dmean_f, dvar_f, spec.axis_name)
  ds, dscale_s, dbias_s = _bn_input_grad(s, mean_s, rstd_s, scale_s, dyw, 1 - pick, p, c_s,
                                         dmean_s, dvar_s, spec.axis_name)
  dx, dw_f = _branch_grads(spec, x, w_f, w_s, df, ds)
  return (dx, dw_f, jnp.zeros_like(w_s), dscale_f, dbias_f, dscale_s, dbias_s,
          dg.astype(g.dtype))


def _bn_input_grad(z, mean, rstd, scale, dy, share, p, c, dmean, dvar, axis_name):
  """`_bn_backward` for the cotangent share[b, c] * dy of one branch, from its per-example
  sums p = sum_hw dy and c = sum_hw dy * xhat -> (dz, dscale, dbias)."""
  xhat = (z - mean) * rstd
  shared = share.reshape(share.shape[:1] + (1,) * (z.ndim - 2) + share.shape[1:]) * dy
  return _bn_from_sums(z, xhat, rstd, scale, shared, (share * p).sum(0), (share * c).sum(0),
                       dmean, dvar, axis_name)


_gated.defvjp(_gated_fwd, _gated_bwd)


def gated_conv_bn(x, kernel_f, kernel_s, bn_ft, bn_pre, g, *, strides: int = 1,
                  padding: int = 0, dtype=jnp.float32, axis_name: Optional[str] = None,
                  epsilon: float = 1e-5, impl: str = 'xla', recompute_s='expanding'):
  """AdaFilter's gated unit with gated BN (Eq. 5), training mode:
  y = G ? BN_ft(conv(x, kernel_f)) : BN_pre(conv(x, kernel_s))
  -> (y, (mean_ft, var_ft), (mean_pre, var_pre)), the batch statistics of both branches.

  bn_ft, bn_pre: (scale, bias) pairs, [Cout] each; g: [B, Cout], 1 picks F. The gate's
  gradient is sum_hw dy * (BN_ft(F x) - BN_pre(S x)) (`mix`); kernel_s gets a
  zero gradient. `recompute_s` (RECOMPUTE_S, or a bool): where the backward recomputes
  S(x) from x rather than keep it (one more conv, S(x)'s bytes fewer kept). dtypes as
  `conv_bn`.
  """
  spec = Spec(strides, padding, impl, epsilon, axis_name, recompute_policy(recompute_s))
  return _gated(spec, x.astype(dtype), kernel_f.astype(dtype), kernel_s.astype(dtype),
                *bn_ft, *bn_pre, g)


# Eq. 6: one BN after the mix of the conv outputs.

def _eq6_forward(spec, x, w_f, w_s, scale, bias, g):
  f, s = _conv(spec, x, w_f), _conv(spec, x, w_s)
  y, mean, var, rstd = _bn_forward(mix(g, f, s), scale, bias, spec)
  return (y, mean, var), (f, s, rstd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _eq6(spec, x, w_f, w_s, scale, bias, g):
  return _eq6_forward(spec, x, w_f, w_s, scale, bias, g)[0]


def _eq6_fwd(spec, x, w_f, w_s, scale, bias, g):
  out, (f, s, rstd) = _eq6_forward(spec, x, w_f, w_s, scale, bias, g)
  return out, (x, w_f, w_s, f, s if _keeps_s(spec, x, s) else None, g,
               (out[1], rstd, scale))


def _eq6_bwd(spec, res, cts):
  (x, w_f, w_s, f, s, g, (mean, rstd, scale)), cts = _in_backward(res, cts)
  s = _s_of(spec, x, w_s, s)
  dy, dmean, dvar = cts
  mixed, mix_vjp = jax.vjp(mix, g, f, s)
  dm, dscale, dbias = _bn_backward(mixed, mean, rstd, scale, dy, dmean, dvar, spec.axis_name)
  dg, df, ds = mix_vjp(dm)
  dx, dw_f = _branch_grads(spec, x, w_f, w_s, df, ds)
  return dx, dw_f, jnp.zeros_like(w_s), dscale, dbias, dg


_eq6.defvjp(_eq6_fwd, _eq6_bwd)


def gated_conv_bn_eq6(x, kernel_f, kernel_s, bn, g, *, strides: int = 1, padding: int = 0,
                      dtype=jnp.float32, axis_name: Optional[str] = None,
                      epsilon: float = 1e-5, impl: str = 'xla', recompute_s='expanding'):
  """AdaFilter's gated unit with one BN after the mix (Eq. 6), training mode:
  y = BN(G ? conv(x, kernel_f) : conv(x, kernel_s)) -> (y, batch mean, batch var).
  bn: (scale, bias); the rest as `gated_conv_bn`."""
  spec = Spec(strides, padding, impl, epsilon, axis_name, recompute_policy(recompute_s))
  return _eq6(spec, x.astype(dtype), kernel_f.astype(dtype), kernel_s.astype(dtype), *bn, g)


# ---- on a flax model's bound modules (an interceptor's view: transform.py) -------------

def gated_unit(conv: nn.Module, conv_pre: nn.Module, norm: nn.Module,
               norm_pre: Optional[nn.Module], x, g, unit: dict, recompute_s='expanding'):
  """AdaFilter's unit on bound modules, training mode: F `conv`, S `conv_pre` (frozen),
  BN_ft `norm` and BN_pre `norm_pre` (Eq. 5; None: Eq. 6, `norm` after the mix), every
  norm's running averages updated; `unit`: `runs_lean`'s keyword arguments."""
  w_f, w_s = kernel(conv), jax.lax.stop_gradient(kernel(conv_pre))
  g = g.astype(unit['dtype'])
  if norm_pre is None:
    y, mean, var = gated_conv_bn_eq6(x, w_f, w_s, affine(norm), g, recompute_s=recompute_s,
                                     **unit)
    update_batch_stats(norm, mean, var)
    return y
  y, ft, pre = gated_conv_bn(x, w_f, w_s, affine(norm), affine(norm_pre), g,
                             recompute_s=recompute_s, **unit)
  update_batch_stats(norm, *ft)
  update_batch_stats(norm_pre, *pre)
  return y
