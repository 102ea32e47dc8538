"""AdaFilter's speed variants give the reference two-branch model's outputs and grads.

A tiny AdaFilter ResNet-14 (width 4, 48 px; one bottleneck a stage: every kind of layer
of the deep archs, stem and projections included) with non-trivial BN statistics and
affines, and gates that really mix both branches (random policy, same rng for both).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax.models import gated_fast
from tests.models import tiny

# 48 px: 'fused' takes the one-conv path in the stem and layer1 only, so both forms run.
X = jax.random.normal(jax.random.PRNGKey(0), (3, 48, 48, 3))
RNGS = {'gate': jax.random.PRNGKey(3)}
RTOL = 2e-4  # float32 through 17 layers; the variants reorder sums (folded BN, matmuls)


def _variables(**kw):
  model = tiny.adafilter('resnet14', 5, width=4, gate='random', **kw)
  v = model.init({'params': jax.random.PRNGKey(0), 'gate': jax.random.PRNGKey(1)}, X)
  leaves, tree = jax.tree_util.tree_flatten(v)
  keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
  # Perturb everything (F != S, BN stats/affines not the identity), keep variances > 0.
  leaves = [a + 0.2 * jax.random.uniform(k, a.shape) for a, k in zip(leaves, keys)]
  return jax.tree_util.tree_unflatten(tree, leaves)


def _rel(a, b):
  return float(jnp.abs(a - b).max() / jnp.abs(b).max())


@pytest.mark.parametrize('gated_bn,bn_stats', [(True, 'batch'), (True, 'selected'),
                                                (False, 'batch')])
@pytest.mark.parametrize('eval_impl', [i for i in gated_fast.EVAL_IMPLS if i != 'two_branch'])
def test_eval_fast_path_equals_two_branch(eval_impl, gated_bn, bn_stats):
  kw = dict(gated_bn=gated_bn, bn_stats=bn_stats)
  v = _variables(**kw)
  ref, gates = tiny.adafilter('resnet14', 5, width=4, gate='random', **kw).apply(
      v, X, train=False, rngs=RNGS)
  fast = tiny.adafilter('resnet14', 5, width=4, gate='random', eval_impl=eval_impl, **kw)
  got, gates_fast = fast.apply(v, X, train=False, rngs=RNGS)
  frac = np.mean([float(g.mean()) for g in gates.values()])
  assert 0.3 < frac < 0.7  # both branches really used
  assert _rel(got, ref) <= RTOL
  assert all(np.array_equal(gates[k], gates_fast[k]) for k in gates)


def test_eval_fast_path_with_the_lstm_gate():
  v = None
  for kw in [{}, dict(eval_impl='fused', conv_impl='mixed'), dict(eval_impl='fused_all')]:
    model = tiny.adafilter('resnet14', 5, width=4, **kw)
    if v is None:
      v = model.init({'params': jax.random.PRNGKey(0)}, X)
      v = jax.tree_util.tree_map(lambda a: a + 0.1 * jnp.cos(jnp.arange(a.size)).reshape(
          a.shape), v)
      ref = model.apply(v, X, train=False)[0]
    else:
      assert _rel(model.apply(v, X, train=False)[0], ref) <= RTOL


@pytest.mark.parametrize('kw', [dict(conv_impl='mixed'),
                                dict(conv_impl='mixed', eval_impl='fused_all')])
def test_train_variants_equal_reference_in_value_grad_and_stats(kw):
  """Training: the conv variants, and an eval variant (which must train as two-branch)."""
  v = _variables()
  y = jnp.array([0, 1, 2])

  def loss(params, model):
    (logits, _), new = model.apply({**v, 'params': params}, X, train=True, rngs=RNGS,
                                   mutable=['batch_stats'])
    ce = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(3), y])
    return ce, (logits, new['batch_stats'])

  ref_model = tiny.adafilter('resnet14', 5, width=4, gate='random')
  model = tiny.adafilter('resnet14', 5, width=4, gate='random', **kw)
  (_, (l_ref, s_ref)), g_ref = jax.value_and_grad(loss, has_aux=True)(v['params'], ref_model)
  (_, (l_got, s_got)), g_got = jax.value_and_grad(loss, has_aux=True)(v['params'], model)
  assert _rel(l_got, l_ref) <= RTOL
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g_got),
                          jax.tree_util.tree_leaves(g_ref)):
    scale = max(float(jnp.abs(b).max()), 1e-6)
    assert float(jnp.abs(a - b).max()) <= 1e-3 * scale + 1e-6, jax.tree_util.keystr(path)
    if 'conv_pre' in jax.tree_util.keystr(path):
      np.testing.assert_array_equal(a, 0.0)  # S never gets a gradient
  for a, b in zip(jax.tree_util.tree_leaves(s_got), jax.tree_util.tree_leaves(s_ref)):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-5)


def test_plain_resnet_conv_impl_equal():
  # Eval mode: train-mode BN over a batch of 3 at layer4's 1x1 maps divides by tiny
  # variances and amplifies float32 rounding (the unit tests in test_convs.py and the
  # AdaFilter train test above check the gradients).
  m_ref = tiny.resnet('resnet14', 5, width=4)
  v = m_ref.init(jax.random.PRNGKey(0), X)
  ref = m_ref.apply(v, X)[0]
  got = tiny.resnet('resnet14', 5, width=4, conv_impl='mixed').apply(v, X)[0]
  assert _rel(got, ref) <= RTOL


@pytest.mark.parametrize('k,stride,pad,size,expected', [
    (7, 2, 3, 224, 'map'),       # stem, 112x112 out
    (1, 1, 0, 56, 'matmul'),     # layer1 1x1
    (3, 1, 1, 56, 'map'),        # layer1 3x3
    (3, 2, 1, 28, 'map'),        # layer3_0's strided 3x3, 14x14 out
    (3, 1, 1, 7, None),          # layer4: two-branch
    (1, 2, 0, 14, None),         # layer4_0's projection, 7x7 out
])
def test_fused_eval_picks_the_per_example_conv_by_layer(k, stride, pad, size, expected):
  assert gated_fast.per_example_impl('fused', (2, size, size, 4), k, stride, pad) == expected
