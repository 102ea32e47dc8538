"""The optimizer, read back from its own state: group rates, frozen groups, schedule."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from adafilter_jax import methods
from adafilter_jax.train import optimizer
from configs import base

SPE = 3  # steps per epoch


def _params():
  w = lambda *s: jnp.ones(s)
  return {
      'conv1': {'conv': {'kernel': w(3, 3, 3, 4)}, 'bn': {'scale': w(4), 'bias': w(4)}},
      'layer1_0': {'conv1': {'conv_ft': {'kernel': w(1, 1, 4, 4)},
                             'conv_pre': {'kernel': w(1, 1, 4, 4)},
                             'bn_ft': {'scale': w(4), 'bias': w(4)}}},
      'gate': {'embed_0': {'kernel': w(4, 2), 'bias': w(2)}},
      'fc': {'kernel': w(4, 5), 'bias': w(5)},
  }


def _optim(**kw):
  o = base.get_config().optim
  o.decay_epochs = (1, 3)
  o.update(kw)
  return o


def _run(optim, steps, grads_scale=1.0, weight_decay=True):
  params = _params()
  labels = methods.get('adafilter').labels(params)
  tx = optimizer.make(optim, labels, SPE, weight_decay=weight_decay)
  state = tx.init(params)
  lrs = []
  for _ in range(steps):
    grads = jax.tree.map(lambda p: grads_scale * jnp.ones_like(p), params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    lrs.append(optimizer.current_lrs(state))
  return params, lrs


def test_gate_rate_is_ten_times_the_network_and_head_follows_network():
  _, lrs = _run(_optim(), 1)
  np.testing.assert_allclose(lrs[0]['gate'], 10 * lrs[0]['network'], rtol=1e-6)
  np.testing.assert_allclose(lrs[0]['network'], 0.01, rtol=1e-6)
  np.testing.assert_allclose(lrs[0]['head'], lrs[0]['network'], rtol=1e-6)


def test_schedule_decays_at_configured_epochs():
  _, lrs = _run(_optim(), 4 * SPE)
  net = np.array([lr['network'] for lr in lrs])
  gate = np.array([lr['gate'] for lr in lrs])
  # lrs[i] is the rate of step i: epoch 0 at 0.01, epochs 1-2 at 1e-3, epoch 3 at 1e-4.
  expected = np.repeat([0.01, 1e-3, 1e-3, 1e-4], SPE)
  np.testing.assert_allclose(net, expected, rtol=1e-5)
  np.testing.assert_allclose(gate, 10 * expected, rtol=1e-5)


def test_frozen_group_never_moves_and_gate_has_no_weight_decay():
  start = _params()
  end, _ = _run(_optim(), 3)
  np.testing.assert_array_equal(end['layer1_0']['conv1']['conv_pre']['kernel'],
                                start['layer1_0']['conv1']['conv_pre']['kernel'])
  # Zero gradients: only weight decay moves anything, and only kernels of network/head.
  end, _ = _run(_optim(), 3, grads_scale=0.0)
  np.testing.assert_array_equal(end['gate']['embed_0']['kernel'], 1.0)
  np.testing.assert_array_equal(end['conv1']['bn']['scale'], 1.0)
  np.testing.assert_array_equal(end['fc']['bias'], 1.0)
  assert np.all(end['conv1']['conv']['kernel'] < 1.0)
  assert np.all(end['layer1_0']['conv1']['conv_ft']['kernel'] < 1.0)
  assert np.all(end['fc']['kernel'] < 1.0)
  np.testing.assert_array_equal(end['layer1_0']['conv1']['conv_pre']['kernel'], 1.0)


def test_no_weight_decay_for_methods_with_a_regularizer():
  end, _ = _run(_optim(), 3, grads_scale=0.0, weight_decay=False)
  np.testing.assert_array_equal(end['conv1']['conv']['kernel'], 1.0)


def test_first_step_matches_torch_sgd_with_weight_decay():
  # torch.optim.SGD(momentum=0.9, weight_decay=wd): v = g + wd*w; w -= lr*v.
  end, _ = _run(_optim(), 1, grads_scale=0.5)
  np.testing.assert_allclose(end['conv1']['conv']['kernel'], 1 - 0.01 * (0.5 + 1e-4), rtol=1e-6)
  np.testing.assert_allclose(end['gate']['embed_0']['kernel'], 1 - 0.1 * 0.5, rtol=1e-6)
