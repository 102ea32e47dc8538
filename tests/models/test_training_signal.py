"""The gate and the frozen branch's BN really train: in the full model after one real
optimizer step (the project's train step and per-group optimizer), and against a
gradient computed by hand for one gated layer."""
import jax
import numpy as np

from adafilter_jax import methods
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from tests.models import tiny as model_tiny
from tests import tiny_config


def _moved(old, new):
  """Per leaf path: the largest change."""
  flat_new = dict(jax.tree_util.tree_leaves_with_path(new))
  return {jax.tree_util.keystr(p): float(np.abs(np.asarray(flat_new[p]) - v).max())
          for p, v in jax.tree_util.tree_leaves_with_path(old)}


def test_gate_and_bn_pre_move_after_one_train_step():
  config = tiny_config.config('adafilter')
  method = methods.get('adafilter')
  model = method.build_model(config, 5, None)
  # Fresh init: F != S, so the straight-through gradient of G is not zero (with pretrained
  # weights F = S at step 0 and the gate first moves at step 1).
  variables = state_lib.init_variables(model, config, 16, None)
  state = state_lib.create_state(method, model, variables, config, 10)
  rng = np.random.RandomState(0)
  batch = {'image': rng.randint(0, 256, (8, 16, 16, 3)).astype(np.uint8),
           'label': rng.randint(0, 5, 8).astype(np.int32)}
  new, _ = jax.jit(steps.make_train_step(method, config, None))(state, batch,
                                                                jax.random.key(0), None)
  moved = _moved(jax.device_get(variables['params']), jax.device_get(new.params))
  gate = {k: d for k, d in moved.items() if k.startswith("['gate']")}
  assert any('lstm' in k for k in gate) and any('head_' in k for k in gate)
  assert any('embed_' in k for k in gate)
  stuck = [k for k, d in gate.items() if not d > 1e-7]
  assert not stuck, f'gate params that did not move: {stuck}'
  bn_pre = {k: d for k, d in moved.items() if "['bn_pre']" in k}
  assert len(bn_pre) == 2 * 3  # scale and bias of the 3 gated layers of layer4
  assert all(d > 1e-7 for d in bn_pre.values()), bn_pre


def test_bn_pre_gradient_by_hand():
  """y = G * BN_ft(F x) + (1 - G) * (scale * s_hat + bias), s_hat = S x normalised over
  the batch: dL/dbias = sum (1 - G) dy, dL/dscale = sum (1 - G) dy s_hat."""
  rng = np.random.RandomState(3)
  b, cout = 4, 5
  g = rng.randint(0, 2, (b, cout)).astype(np.float32)
  x = rng.randn(b, 6, 6, 3).astype(np.float32)
  dy = rng.randn(b, 6, 6, cout).astype(np.float32)
  layer = model_tiny.gated_unit(x, cout, 3, g, padding=1, gated_bn=True, bn_stats='batch')
  v = layer.init(jax.random.PRNGKey(0), x, True)
  v['params']['bn_pre'] = {'scale': rng.rand(cout).astype(np.float32) + 0.5,
                           'bias': rng.randn(cout).astype(np.float32)}

  def loss(bn_pre):
    params = {**v['params'], 'bn_pre': bn_pre}
    (y, _), _ = layer.apply({**v, 'params': params}, x, True,
                            mutable=['batch_stats'])
    return (y * dy).sum()

  got = jax.grad(loss)(v['params']['bn_pre'])
  s = np.asarray(jax.lax.conv_general_dilated(
      x, v['params']['conv_pre']['kernel'], (1, 1), ((1, 1), (1, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  s_hat = (s - s.mean((0, 1, 2))) / np.sqrt(s.var((0, 1, 2)) + 1e-5)
  w = (1 - g)[:, None, None, :] * dy
  np.testing.assert_allclose(got['bias'], w.sum((0, 1, 2)), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(got['scale'], (w * s_hat).sum((0, 1, 2)), rtol=1e-4, atol=1e-4)
