"""SpotTune: the block mixes whole block outputs, the Gumbel STE, the global-k losses
and the fixed global-k model."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax import methods
from adafilter_jax.methods import spottune as spottune_method
from adafilter_jax.models import spottune
from adafilter_jax.models.layers import ConvBN
from adafilter_jax.models.resnet import BasicBlock
from adafilter_jax.models.ste import gumbel_softmax_ste
from tests import fake_devices
from tests.methods import tiny

ARCH, WIDTH, SIZE = 'resnet18', 4, 16


def _config(**spottune_overrides):
  c = tiny.config('spottune', ARCH, WIDTH)
  c.spottune.policy_width = WIDTH
  c.spottune.update(spottune_overrides)
  return c


def _images(n=4, seed=0):
  return jax.random.normal(jax.random.key(seed), (n, SIZE, SIZE, 3))


@pytest.fixture(scope='module')
def gated():
  model = methods.get('spottune').build_model(_config(), 5, None)
  return model, tiny.variables(model, _images(), train=False)


class _OneBlock(nn.Module):
  """One SpotTuneBlock fed a given policy row, as ResNet would feed it."""

  @nn.compact
  def __call__(self, x, decision):
    unit = functools.partial(ConvBN, bn_axis_name=None, dtype=jnp.float32)
    block = spottune.SpotTuneBlock(8, 2, unit, block_cls=BasicBlock, name='layer2_0')
    return block(x, False, decision)


def test_block_output_is_the_chosen_copy_and_only_the_copy_trains():
  x = jax.random.normal(jax.random.key(1), (3, 8, 8, 4))
  onehot = jnp.array([[0., 1.], [1., 0.], [0., 1.]])  # ft, pre, ft
  module = _OneBlock()
  # The two copies start differently here, so picking the wrong one would show.
  v = tiny.variables(module, x, onehot)
  y = module.apply(v, x, onehot)
  plain = BasicBlock(8, 2, functools.partial(ConvBN, bn_axis_name=None))
  ref = {}
  for copy in (spottune.FT, spottune.PRE):
    sub = {c: t['layer2_0'][copy] for c, t in v.items()}
    ref[copy] = plain.apply(sub, x, False)
  assert not np.allclose(ref[spottune.FT], ref[spottune.PRE])
  np.testing.assert_allclose(y[0], ref[spottune.FT][0], rtol=1e-6)
  np.testing.assert_allclose(y[1], ref[spottune.PRE][1], rtol=1e-6)
  np.testing.assert_allclose(y[2], ref[spottune.FT][2], rtol=1e-6)

  def loss(params, decisions):
    y = module.apply({**v, 'params': params}, x, decisions)
    return jnp.sum(jnp.square(y))
  g_params, g_decisions = jax.grad(loss, argnums=(0, 1))(v['params'], onehot)
  norm = lambda t: sum(float(jnp.sum(jnp.abs(a))) for a in jax.tree.leaves(t))
  assert norm(g_params['layer2_0'][spottune.PRE]) == 0.0  # behind stop_gradient
  assert norm(g_params['layer2_0'][spottune.FT]) > 0.0
  # The policy learns through the mix: d loss / d I = <dL/dy, y_ft - y_pre> per image.
  dy = 2 * y
  expected = jnp.sum(dy * (ref[spottune.FT] - ref[spottune.PRE]), (1, 2, 3))
  np.testing.assert_allclose(g_decisions[:, 1], expected, rtol=1e-4)
  np.testing.assert_allclose(g_decisions[:, 0], 0.0)


def test_gumbel_ste_forward_is_one_hot_backward_is_the_softmax_relaxation():
  logits = jax.random.normal(jax.random.key(0), (6, 5, 2))
  noise = jax.random.gumbel(jax.random.key(1), logits.shape)
  tau = 5.0
  y, vjp = jax.vjp(lambda l: gumbel_softmax_ste(l, noise, tau), logits)
  np.testing.assert_array_equal(np.sort(np.asarray(y), -1), np.broadcast_to([0., 1.], y.shape))
  np.testing.assert_array_equal(np.argmax(y, -1), np.argmax(logits + noise, -1))
  ct = jax.random.normal(jax.random.key(2), y.shape)
  _, soft_vjp = jax.vjp(lambda l: jax.nn.softmax((l + noise) / tau, -1), logits)
  np.testing.assert_allclose(vjp(ct)[0], soft_vjp(ct)[0], rtol=1e-6, atol=1e-7)


def test_policy_is_stochastic_in_training_and_argmax_at_test(gated):
  model, v = gated
  x = _images()
  run = jax.jit(lambda key, train: model.apply(v, x, train=train, rngs={'gate': key},
                                               mutable=['batch_stats'])[0],
                static_argnums=1)
  (l0, g0), (l1, g1) = run(jax.random.key(0), False), run(jax.random.key(1), False)
  np.testing.assert_array_equal(l0, l1)
  jax.tree.map(np.testing.assert_array_equal, g0, g1)  # eval gates: no sampling
  assert list(g0) == spottune.block_names(ARCH)  # forward order, one entry per block
  assert all(g.shape == (4, 1) for g in g0.values())
  logits = _policy_logits(model, v, x)
  for i, name in enumerate(g0):
    np.testing.assert_array_equal(g0[name][:, 0], logits[:, i, 1] > logits[:, i, 0])
  (_, t0), (_, t1) = run(jax.random.key(0), True), run(jax.random.key(1), True)
  assert any(not np.array_equal(t0[k], t1[k]) for k in t0)


def _policy_logits(model, v, x):
  captured = {}

  def probe(mdl, method_name):  # the policy fc's output, before the Gumbel noise
    return isinstance(mdl, nn.Dense) and '/'.join(mdl.path) == 'gate/fc'
  _, state = model.apply(v, x, train=False, capture_intermediates=probe,
                         mutable=['intermediates'])
  captured = state['intermediates']['gate']['fc']['__call__'][0]
  return np.asarray(captured).reshape(x.shape[0], -1, 2)


def test_labels_freeze_the_pretrained_copies_and_the_policy_is_the_gate_group(gated):
  _, v = gated
  labels = methods.get('spottune').labels(v['params'])
  for name in spottune.block_names(ARCH):
    assert set(jax.tree.leaves(labels[name][spottune.PRE])) == {'frozen'}
    assert set(jax.tree.leaves(labels[name][spottune.FT])) == {'network'}
  assert set(jax.tree.leaves(labels['gate'])) == {'gate'}
  assert set(jax.tree.leaves(labels['fc'])) == {'head'}


def test_global_k_losses_equal_hand_computation():
  gates = {'a': jnp.array([[1.], [1.], [0.], [1.]]), 'b': jnp.zeros((4, 1)),
           'c': jnp.ones((4, 1)), 'd': jnp.array([[0.], [1.], [0.], [0.]])}
  v = np.array([0.75, 0.0, 1.0, 0.25])
  l_k, l_e = spottune_method.global_k_losses(gates, k=3)
  np.testing.assert_allclose(l_k, (v.sum() - 3) ** 2, rtol=1e-6)
  np.testing.assert_allclose(l_e, -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)), rtol=1e-6)
  config = _config(k=3, lambda_k=0.3, lambda_e=0.7)
  aux = methods.get('spottune_global_k').loss.fn(methods.LossContext(gates=gates, config=config))
  np.testing.assert_allclose(aux, 0.3 * l_k + 0.7 * l_e, rtol=1e-6)
  # d/dv of lambda_k*l_k + lambda_e*l_e, reaching each image's gate as 1/B of it
  grads = jax.grad(lambda g: methods.get('spottune_global_k').loss.fn(
      methods.LossContext(gates=g, config=config)))(gates)
  for i, name in enumerate(gates):
    dv = 0.3 * 2 * (v.sum() - 3) + (0.7 * -(np.log(v[i]) + 1) if 0 < v[i] else 0.0)
    np.testing.assert_allclose(grads[name], np.full((4, 1), dv / 4), rtol=1e-5)


def test_global_policy_picks_the_k_most_used_blocks_in_order():
  fractions = {'layer1_0': 0.2, 'layer2_0': 0.9, 'layer3_0': 0.1, 'layer4_0': 0.8}
  assert spottune.global_policy(fractions, 2) == ['layer2_0', 'layer4_0']


def test_fixed_model_has_no_policy_and_matches_the_gated_one(gated):
  model, v = gated
  names = spottune.block_names(ARCH)
  chosen = [names[1], names[4], names[7]]
  # Force the gated model's policy to `chosen` for every image: zero fc kernel, bias.
  bias = np.tile([1., -1.], (len(names), 1))
  bias[[names.index(b) for b in chosen]] = [-1., 1.]
  params = jax.tree.map(lambda a: a, v['params'])
  params['gate']['fc'] = {'kernel': jnp.zeros_like(params['gate']['fc']['kernel']),
                          'bias': jnp.asarray(bias.reshape(-1), jnp.float32)}
  forced = {**v, 'params': params}
  x = _images()
  logits, gates = model.apply(forced, x, train=False)
  assert [n for n in names if float(gates[n].min()) == 1.0] == chosen

  fixed = methods.get('spottune_fixed').build_model(_config(blocks=','.join(chosen)), 5, None)
  fv = spottune.fixed_params(forced, chosen)
  assert 'gate' not in fv['params']
  for n in names:
    assert set(fv['params'][n]) == {spottune.FT if n in chosen else spottune.PRE}
  shapes = jax.eval_shape(functools.partial(fixed.init, train=False), jax.random.key(0), x)
  assert jax.tree.structure(shapes) == jax.tree.structure(fv)
  fixed_logits, fixed_gates = fixed.apply(fv, x, train=False)
  assert fixed_gates == {}
  np.testing.assert_allclose(fixed_logits, logits, rtol=1e-5, atol=1e-6)


def test_both_copies_start_from_the_pretrained_block(gated):
  from adafilter_jax import models
  from adafilter_jax.weights import pretrained
  _, v = gated
  plain = models.backbone(ARCH, 5, width=WIDTH)
  source = tiny.variables(plain, _images(), seed=1, train=False)
  out = pretrained.transfer(source, v)
  for name in spottune.block_names(ARCH):
    for copy in (spottune.FT, spottune.PRE):
      jax.tree.map(np.testing.assert_array_equal, out['params'][name][copy],
                   source['params'][name])
      jax.tree.map(np.testing.assert_array_equal, out['batch_stats'][name][copy],
                   source['batch_stats'][name])
  jax.tree.map(np.testing.assert_array_equal, out['params']['gate'], v['params']['gate'])


def test_frozen_blocks_keep_their_bn_statistics_through_training_steps():
  """The frozen copy is the pretrained block: params and BN running statistics unchanged
  after a real optimizer step (it normalises with the pretrained statistics), while the
  fine-tuned copy's statistics move. (spottune_fixed builds its frozen blocks the same
  way, `SpotTuneBlock`'s `pre`.)"""
  from adafilter_jax.train import state as state_lib
  from adafilter_jax.train import steps
  method = 'spottune_global_k'
  config = _config()
  config.method = method
  model = methods.get(method).build_model(config, 5, None)
  x = _images(8)
  variables = tiny.variables(model, x, train=False)
  state = state_lib.create_state(methods.get(method), model, variables, config, 10)
  step = jax.jit(steps.make_train_step(methods.get(method), config, None))
  batch = {'image': 50 * x + 100, 'label': jnp.arange(8) % 5}  # uint8-like range
  state, _ = step(state, batch, jax.random.key(0), None)
  copies = set()
  for name in spottune.block_names(ARCH):
    for copy, stats in state.batch_stats[name].items():
      before = variables['batch_stats'][name][copy]
      same = jax.tree.leaves(jax.tree.map(np.array_equal, before, stats))
      assert all(same) if copy == spottune.PRE else not any(same), (name, copy)
      copies.add(copy)
      if copy == spottune.PRE:
        jax.tree.map(np.testing.assert_array_equal, variables['params'][name][copy],
                     state.params[name][copy])
  assert copies == {spottune.FT, spottune.PRE}


def test_global_k_loss_under_pmap_is_the_global_batch_loss():
  """v_l is a fraction of the global batch, so pmap on 2 devices equals one device
  (XLA_FLAGS must be set before jax is imported: a subprocess)."""
  diff = fake_devices.run_check('tests.methods.global_k_pmap_check', timeout=300)
  assert diff['grad_norm'] > 1e-2, diff  # a gradient that could differ
  assert diff['value'] < 1e-6 and diff['grad'] < 1e-6, diff  # float32 sums in another order
