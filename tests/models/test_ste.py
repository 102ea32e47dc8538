"""The straight-through estimators against their stop-gradient forms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax.models.ste import binary_ste, binary_ste_reference, gumbel_softmax_ste


@pytest.mark.parametrize('through_sigmoid', [False, True])
def test_binary_ste_forward_is_hard_and_backward_matches_reference(through_sigmoid):
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 16)) * 3
  z = z.at[0, 0].set(0.0)  # sigmoid(0) = 0.5 counts as "fine-tune" (>= 0.5)
  hard = binary_ste(z, through_sigmoid)
  assert set(np.unique(np.asarray(hard)).tolist()) <= {0.0, 1.0}
  np.testing.assert_array_equal(hard, (jax.nn.sigmoid(z) >= 0.5).astype(jnp.float32))
  assert hard[0, 0] == 1.0
  w = jax.random.normal(jax.random.PRNGKey(1), z.shape)
  loss = lambda f: lambda z: jnp.sum(w * f(z, through_sigmoid) ** 2)
  got = jax.grad(loss(binary_ste))(z)
  want = jax.grad(loss(binary_ste_reference))(z)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # By hand: d/dz sum(w * b^2) = 2 w b (* sigmoid'(z) for the variant).
  s = jax.nn.sigmoid(z)
  by_hand = 2 * w * hard * (s * (1 - s) if through_sigmoid else 1)
  np.testing.assert_allclose(got, by_hand, rtol=1e-6)


def test_gumbel_ste_forward_one_hot_backward_softmax():
  logits = jax.random.normal(jax.random.PRNGKey(0), (5, 2))
  noise = jax.random.gumbel(jax.random.PRNGKey(1), (5, 2))
  y = gumbel_softmax_ste(logits, noise, 5.0)
  np.testing.assert_array_equal(y.sum(-1), 1.0)
  np.testing.assert_array_equal(jnp.argmax(y, -1), jnp.argmax(logits + noise, -1))
  w = jax.random.normal(jax.random.PRNGKey(2), (5, 2))
  got = jax.grad(lambda l: jnp.sum(w * gumbel_softmax_ste(l, noise, 5.0)))(logits)
  want = jax.grad(lambda l: jnp.sum(w * jax.nn.softmax((l + noise) / 5.0)))(logits)
  np.testing.assert_allclose(got, want, rtol=1e-6)
