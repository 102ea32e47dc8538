"""BSS: the penalty and its gradient against an SVD in numpy (under pmap:
test_feature_losses_pmap.py)."""
import jax
import numpy as np
import pytest

from adafilter_jax import methods
from adafilter_jax.methods import bss
from tests.methods import tiny


@pytest.mark.parametrize('shape, k', [((6, 10), 1), ((6, 10), 2), ((9, 4), 3)])
def test_penalty_and_gradient_equal_numpy_svd(shape, k):
  config = tiny.config('bss')
  config.bss.eta, config.bss.k = 0.3, k
  features = np.random.RandomState(k).randn(*shape).astype(np.float32)
  loss = lambda f: methods.get('bss').loss.fn(
      methods.LossContext(tapped={'features': f}, config=config))
  value, grad = jax.value_and_grad(loss)(features)

  u, s, vt = np.linalg.svd(features.astype(np.float64), full_matrices=False)
  smallest = np.argsort(s)[:k]
  np.testing.assert_allclose(value, 0.3 * np.sum(s[smallest] ** 2), rtol=1e-5)
  # d sigma_i / dF = u_i v_i^T, so d (sum sigma_i^2) / dF = sum 2 sigma_i u_i v_i^T.
  hand = sum(2 * s[i] * np.outer(u[:, i], vt[i]) for i in smallest)
  np.testing.assert_allclose(grad, 0.3 * hand, rtol=1e-4, atol=1e-6)


def test_k_beyond_the_singular_values_is_refused():
  with pytest.raises(ValueError, match='config.bss.k=5: a .* has 4 singular values'):
    bss.shrinkage(np.ones((4, 8), np.float32), 5)
