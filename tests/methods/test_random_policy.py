"""Random policy: AdaFilter's model with a gate that ignores the input."""
import jax
import numpy as np
import pytest

from adafilter_jax import methods
from tests.methods import tiny


def test_gate_is_independent_of_the_input_about_half_ones_and_has_no_params():
  config = tiny.config('random_policy')  # the recipe says adafilter.gate='random'
  model = methods.get('random_policy').build_model(config, 5, None)
  x = jax.random.normal(jax.random.key(0), (8, 16, 16, 3))
  v = tiny.variables(model, x, train=False)
  assert 'gate' not in v['params']
  assert not any('gate' in k for k in v['params'])
  apply = jax.jit(lambda x, key: model.apply(v, x, train=False, rngs={'gate': key})[1])
  g = apply(x, jax.random.key(1))
  assert len(g) == 12  # every conv of ResNet-10: stem, 8 in blocks, 3 projections
  other = apply(-3 * x + 1, jax.random.key(1))  # another input, the same draw
  for name in g:
    np.testing.assert_array_equal(g[name], other[name])
  flat = np.concatenate([np.ravel(a) for a in g.values()])
  assert set(np.unique(flat)) <= {0.0, 1.0}
  assert abs(flat.mean() - 0.5) < 0.05, flat.mean()  # ~2000 draws: 0.05 is > 4 sigma
  fresh = apply(x, jax.random.key(2))
  assert any(not np.array_equal(g[n], fresh[n]) for n in g)


def test_a_config_whose_gate_is_not_random_fails_instead_of_being_overridden():
  config = tiny.config('random_policy', **{'adafilter.gate': 'lstm'})
  with pytest.raises(ValueError, match="adafilter.gate='random'.*'lstm'"):
    methods.get('random_policy').build_model(config, 5, None)
