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
      'layer1_0': {'conv1': {'conv': {'kernel': w(1, 1, 4, 4)},
                             'conv_pre': {'kernel': w(1, 1, 4, 4)},
                             'bn': {'scale': w(4), 'bias': w(4)}}},
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
  assert np.all(end['layer1_0']['conv1']['conv']['kernel'] < 1.0)
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


def test_several_steps_match_torch_sgd_momentum_per_group_rates_and_decay():
  """Momentum shows only from the second step on: 5 steps of random gradients, across
  the decay at epoch 1 (step 3), against torch.optim.SGD with one param group per
  (rate, weight decay): the network's and head's kernels decayed, gate at 10x, frozen
  params outside the optimizer."""
  import torch  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), _params())
  labels = methods.get('adafilter').labels(params)
  wd = 0.05  # large enough to show above float32 rounding within 5 steps
  tx = optimizer.make(_optim(weight_decay=wd), labels, SPE)
  state = tx.init(params)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  label_leaves = jax.tree.leaves(labels)
  tensors = [torch.tensor(np.asarray(p), dtype=torch.float64, requires_grad=True)
             for _, p in leaves]
  base_lr = {'network': 0.01, 'head': 0.01, 'gate': 0.1}
  groups = {}
  for (path, _), label, t in zip(leaves, label_leaves, tensors):
    if label == 'frozen':
      continue
    decayed = label != 'gate' and path[-1].key == 'kernel'
    groups.setdefault((label, decayed), []).append(t)
  torch_opt = torch.optim.SGD(
      [{'params': ts, 'lr': base_lr[label], 'weight_decay': wd if decayed else 0.0,
        'base_lr': base_lr[label]} for (label, decayed), ts in groups.items()],
      lr=0.01, momentum=0.9)
  for step in range(5):
    grads = [rng.normal(size=t.shape) for t in tensors]
    updates, state = tx.update(
        jax.tree.unflatten(treedef, [jnp.asarray(g, jnp.float32) for g in grads]), state, params)
    params = optax.apply_updates(params, updates)
    for group in torch_opt.param_groups:  # the schedule, by hand: x0.1 from epoch 1
      group['lr'] = group['base_lr'] * (0.1 if step >= SPE else 1.0)
    for t, g in zip(tensors, grads):
      t.grad = torch.tensor(g)
    torch_opt.step()
  # The frozen params are not in torch's optimizer: their tensors kept the start values.
  for (path, p), t in zip(jax.tree_util.tree_flatten_with_path(params)[0], tensors):
    np.testing.assert_allclose(np.asarray(p), t.detach().numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
