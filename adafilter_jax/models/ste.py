"""Straight-through estimators: a hard decision forward, a smooth gradient backward.

`binary_ste` is AdaFilter's Eq. 2: forward ``x_b = 1[sigmoid(z) >= 0.5]``; backward
``dE/dz = dE/dx_b`` ("the gradient with respect to the input of the sigmoid"). The
variant ``through_sigmoid=True`` multiplies by sigmoid'(z) instead, i.e. it treats the
hard step as the identity on sigmoid(z). Both are `jax.custom_vjp`s so the hard value
never leaks a zero gradient; `binary_ste_reference` gives the same numbers with
`stop_gradient`, which the tests use as the independent reference.

`mix` is how a hard decision picks between two branches (AdaFilter's Eq. 1 and 5): a
select forward, the product form's gradient backward.
"""
import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def binary_ste(logits: jax.Array, through_sigmoid: bool = False) -> jax.Array:
  # sigmoid(z) >= 0.5  <=>  z >= 0; comparing z avoids rounding of sigmoid near 0.
  return (logits >= 0).astype(logits.dtype)


def _binary_ste_fwd(logits, through_sigmoid):
  return binary_ste(logits, through_sigmoid), logits


def _binary_ste_bwd(through_sigmoid, logits, g):
  if through_sigmoid:
    s = jax.nn.sigmoid(logits)
    g = g * s * (1 - s)
  return (g,)


binary_ste.defvjp(_binary_ste_fwd, _binary_ste_bwd)


def binary_ste_reference(logits: jax.Array, through_sigmoid: bool = False) -> jax.Array:
  """`binary_ste` written with stop_gradient; for tests, not for speed."""
  hard = jax.lax.stop_gradient((logits >= 0).astype(logits.dtype))
  soft = jax.nn.sigmoid(logits) if through_sigmoid else logits
  return soft + jax.lax.stop_gradient(hard - soft)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def gumbel_softmax_ste(logits: jax.Array, gumbel: jax.Array, tau: float) -> jax.Array:
  """SpotTune's straight-through Gumbel-softmax over the last axis.

  Forward: one-hot of argmax(logits + gumbel); backward: the gradient of the relaxed
  softmax((logits + gumbel) / tau). `gumbel` is the sampled noise (zeros at test time,
  which makes the forward the deterministic argmax).
  """
  y = logits + gumbel
  return jax.nn.one_hot(jnp.argmax(y, -1), y.shape[-1], dtype=logits.dtype)


def _gumbel_fwd(logits, gumbel, tau):
  soft, vjp = jax.vjp(lambda l, n: jax.nn.softmax((l + n) / tau, -1), logits, gumbel)
  return gumbel_softmax_ste(logits, gumbel, tau), vjp


def _gumbel_bwd(tau, vjp, g):
  return vjp(g)


gumbel_softmax_ste.defvjp(_gumbel_fwd, _gumbel_bwd)


def _expand(g, a):
  return g.reshape(g.shape[:1] + (1,) * (a.ndim - 2) + g.shape[-1:])


@jax.custom_vjp
def mix(g, a, b):
  """a where g == 1, b where g == 0; g [batch, channels], a and b [batch, ..., channels].
  A select, so a NaN or inf in the branch not picked never reaches the output; the
  backward is the gradient of g*a + (1-g)*b, the gate's straight-through gradient.
  The gate's gradient is summed in float32 or wider (float64 stays float64)."""
  return jnp.where(_expand(g, a) > 0, a, b)


def _mix_fwd(g, a, b):
  return mix(g, a, b), (g, a, b)


def _mix_bwd(res, dy):
  g, a, b = res
  pick = _expand(g, a) > 0
  diff = jnp.where(jnp.isfinite(a) & jnp.isfinite(b), a - b, 0)  # no NaN into the gate
  wide = jnp.promote_types(dy.dtype, jnp.float32)   # a bf16 sum loses the gate's signal
  dg = jnp.sum((dy * diff).astype(wide), tuple(range(1, a.ndim - 1))).astype(g.dtype)
  return dg, jnp.where(pick, dy, 0).astype(a.dtype), jnp.where(pick, 0, dy).astype(b.dtype)


mix.defvjp(_mix_fwd, _mix_bwd)
