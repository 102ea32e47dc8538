"""L2-SP: the regularizer's value and gradient against the hand computation."""
import flax
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods
from tests.methods import tiny


def test_regularizer_gradient_equals_hand_computation():
  config = tiny.config('l2sp')
  config.l2sp.alpha, config.l2sp.beta = 0.3, 0.07
  method = methods.get('l2sp')
  model = method.build_model(config, 5, None)
  start = tiny.variables(model, jnp.zeros((1, 16, 16, 3)), train=False)['params']
  params = tiny.variables(model, jnp.zeros((1, 16, 16, 3)), seed=1, train=False)['params']

  value, grads = jax.jit(jax.value_and_grad(lambda p, s: method.loss.fn(
      methods.LossContext(params=p, pretrained=s, config=config))))(
      params, start)
  flat = lambda t: flax.traverse_util.flatten_dict(t, sep='/')
  w_, w0_ = flat(params), flat(start)
  expected_value = 0.0
  for path, g in flat(grads).items():
    w, w0 = np.asarray(w_[path]), np.asarray(w0_[path])
    if path == 'fc/kernel':
      hand = 0.07 * w
      expected_value += 0.07 / 2 * np.sum(w ** 2)
    elif path.endswith('/kernel'):
      hand = 0.3 * (w - w0)
      expected_value += 0.3 / 2 * np.sum((w - w0) ** 2)
    else:  # BN scale/bias and the head's bias
      hand = np.zeros_like(w)
    np.testing.assert_allclose(g, hand, rtol=1e-5, atol=1e-8, err_msg=path)
  np.testing.assert_allclose(value, expected_value, rtol=1e-5)
  head_only = methods.LossContext(params=start, pretrained=start, config=config)
  assert method.loss.fn(head_only) > 0  # the head term only
