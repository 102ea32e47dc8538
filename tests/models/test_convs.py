"""Every conv implementation equals lax.conv_general_dilated in value and gradient."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax.models import convs

# (kernel, stride, pad, H): 1x1, strided 1x1 (projection), 3x3, strided 3x3, 7x7 stem.
SHAPES = [(1, 1, 0, 6), (1, 2, 0, 7), (3, 1, 1, 6), (3, 2, 1, 7), (7, 2, 3, 9)]
RTOL = 1e-5  # float32; the variants only reorder the same sums


def _data(k, h, cin=5, cout=4, b=2):
  r = np.random.RandomState(k * 100 + h)
  return (jnp.asarray(r.randn(b, h, h, cin), jnp.float32),
          jnp.asarray(r.randn(k, k, cin, cout), jnp.float32))


@pytest.mark.parametrize('impl', [i for i in convs.IMPLS if i != 'xla'])
@pytest.mark.parametrize('k,stride,pad,h', SHAPES)
def test_conv_impl_equals_lax_conv_in_value_and_gradient(impl, k, stride, pad, h):
  x, w = _data(k, h)
  ref, got = (lambda x, w: convs.conv_xla(x, w, stride, pad)), (
      lambda x, w: convs.conv(x, w, stride, pad, impl))
  np.testing.assert_allclose(got(x, w), ref(x, w), rtol=RTOL, atol=1e-5)
  dy = jax.random.normal(jax.random.PRNGKey(0), ref(x, w).shape)
  g_ref = jax.vjp(ref, x, w)[1](dy)
  g_got = jax.vjp(got, x, w)[1](dy)
  for a, b in zip(g_got, g_ref):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-4)


@pytest.mark.parametrize('impl', convs.PER_EXAMPLE_IMPLS)
@pytest.mark.parametrize('k,stride,pad,h', SHAPES)
def test_conv_per_example_equals_a_conv_per_example(impl, k, stride, pad, h):
  x, _ = _data(k, h, b=3)
  w = jax.random.normal(jax.random.PRNGKey(2), (3, k, k, 5, 4))
  got = convs.conv_per_example(x, w, stride, pad, impl)
  for b in range(3):
    np.testing.assert_allclose(got[b], convs.conv_xla(x[b:b + 1], w[b], stride, pad)[0],
                               rtol=RTOL, atol=1e-5)
