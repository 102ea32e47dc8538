"""AdaFilter as a transform of a user's own linen model (models/transform.py), checked on
a CNN written here with plain nn.Conv + nn.BatchNorm and on a third-party ResNet
(PyPI's jax-resnet): against the plain model run with F's weights, or with S's."""
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import jax_resnet
import numpy as np
import pytest

from adafilter_jax.methods import adafilter as adafilter_method
from adafilter_jax.models import adafilter as adafilter_models
from adafilter_jax.models import transform
from adafilter_jax.train import optimizer
from configs import base
from tests.models import tiny


class SmallCNN(nn.Module):
  """conv -> BN (Eq. 5), a strided conv -> BN, a conv with no norm (Eq. 6), a head."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.relu(nn.BatchNorm(use_running_average=not train)(nn.Conv(4, (3, 3))(x)))
    x = nn.Conv(5, (3, 3), strides=2)(x)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.8)(x))
    x = nn.Conv(6, (1, 1))(x)
    return nn.Dense(3)(x.mean((1, 2)))


def _small_cnn():
  return SmallCNN(), {'train': True}, {'train': False}


def _jax_resnet():
  # jax-resnet's blocks train when `batch_stats` is mutable (no train argument).
  return jax_resnet.ResNet18(n_classes=3, hidden_sizes=(4, 8, 8, 8)), {}, {}


MODELS = {'small_cnn': _small_cnn, 'jax_resnet18': _jax_resnet}
X = jnp.asarray(np.random.RandomState(0).randn(4, 16, 16, 3), jnp.float32)


def _gate(kind='lstm', decision=1):
  """A gate of the config's block whose every decision is `decision`."""
  block = tiny.adafilter_block(gate=kind, embed_dim=8, hidden_dim=8,
                               gate_head_bias=5.0 if decision else -5.0,
                               random_p=float(decision))
  return adafilter_models.gate_def(block, {})


def _plain(model, variables, train_kw, train):
  if train:
    return model.apply(variables, X, mutable=['batch_stats'], **train_kw)
  return model.apply(variables, X), None


def _branch_variables(plain_f, plain_s, gated_init, plan):
  """The gated model's variables: F and BN_ft from `plain_f`, S and BN_pre from
  `plain_s`, the gate from `gated_init`."""
  out = {}
  for col in gated_init:
    flat = flax.traverse_util.flatten_dict(gated_init[col])
    f = flax.traverse_util.flatten_dict(plain_f.get(col, {}))
    s = flax.traverse_util.flatten_dict(plain_s.get(col, {}))
    flat.update(f)
    for dst, src in transform.copies(plan):
      for key in [k for k in s if k[:len(src)] == src]:
        flat[dst + key[len(src):]] = s[key]
    out[col] = flax.traverse_util.unflatten_dict(flat)
  return out


def _setup(name, decision, kind='lstm'):
  model, train_kw, eval_kw = MODELS[name]()
  gated = transform.gate(model, X, gate=_gate(kind, decision), **eval_kw)
  plain_f = model.init(jax.random.key(1), X, **eval_kw)
  plain_s = model.init(jax.random.key(2), X, **eval_kw)  # S differs from F
  init = gated.init({'params': jax.random.key(0), 'gate': jax.random.key(3)}, X, **eval_kw)
  variables = _branch_variables(plain_f, plain_s, init, gated.plan)
  # The plain network with S's weights: F's network with S and BN_pre in F's and BN_ft's
  # places (the head is not a gated layer: F's).
  s_net = {col: flax.traverse_util.unflatten_dict({
      k: flax.traverse_util.flatten_dict(variables[col])[_copy(k, gated.plan) or k]
      for k in flax.traverse_util.flatten_dict(plain_f[col])}) for col in plain_f}
  return model, gated, plain_f, s_net, variables, train_kw, eval_kw


def _copy(key, plan):
  """The path of a leaf's copy (S or BN_pre) if its module is gated, else None."""
  for dst, src in transform.copies(plan):
    if key[:len(src)] == src:
      return dst + key[len(src):]
  return None


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('decision', [1, 0])
@pytest.mark.parametrize('name', sorted(MODELS))
def test_all_gates_one_is_f_all_gates_zero_is_s(name, decision, train):
  model, gated, plain_f, plain_s, variables, train_kw, eval_kw = _setup(name, decision)
  kw = train_kw if train else eval_kw
  want, want_stats = _plain(model, plain_f if decision else plain_s, kw, train)
  other, other_stats = _plain(model, plain_s if decision else plain_f, kw, train)
  if train:
    (out, decisions), new = gated.apply(variables, X, mutable=['batch_stats'], **kw)
  else:
    out, decisions = gated.apply(variables, X, **kw)
  assert len(decisions) == len(gated.plan)
  assert all(np.all(np.asarray(d) == decision) for d in decisions.values())
  np.testing.assert_allclose(out, want, atol=1e-5, rtol=1e-5)
  assert np.abs(np.asarray(out) - np.asarray(other)).max() > 1e-3  # F and S differ
  if train:  # both branches' BN statistics move; the picked one's as its plain network's
    stats = flax.traverse_util.flatten_dict(new['batch_stats'])
    before = flax.traverse_util.flatten_dict(variables['batch_stats'])
    picked = flax.traverse_util.flatten_dict(want_stats['batch_stats'])
    unpicked = flax.traverse_util.flatten_dict(other_stats['batch_stats'])
    first = gated.plan[0]  # the unpicked branch sees the image only in the first layer
    copy_of = dict(transform.copies(gated.plan))
    for key, value in stats.items():
      src = next((copy_of[key[:i]] + key[i:] for i in range(len(key)) if key[:i] in copy_of),
                 None)
      ft_key = src or key
      if (src is None) == bool(decision):
        np.testing.assert_allclose(value, picked[ft_key], atol=1e-5, rtol=1e-5)
      elif '/'.join(ft_key).startswith(first.norm):
        np.testing.assert_allclose(value, unpicked[ft_key], atol=1e-5, rtol=1e-5)
      assert np.abs(np.asarray(value) - np.asarray(before[key])).max() > 1e-6


@pytest.mark.parametrize('decision', [1, 0])
def test_random_policy_gate_of_p_one_or_zero(decision):
  model, gated, plain_f, plain_s, variables, _, eval_kw = _setup('small_cnn', decision,
                                                                 'random')
  out, _ = gated.apply(variables, X, rngs={'gate': jax.random.key(0)}, **eval_kw)
  want, _ = _plain(model, plain_f if decision else plain_s, eval_kw, False)
  np.testing.assert_allclose(out, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', sorted(MODELS))
def test_s_gets_zero_gradient_and_no_optimizer_state(name):
  _, gated, _, _, variables, train_kw, _ = _setup(name, 1)
  # The random policy at p = 0.5: decisions of both kinds, F and S both reach the loss.
  half = transform.Gated(gated.model, gated.plan, adafilter_models.gate_def(
      tiny.adafilter_block(gate='random', random_p=0.5), {}), train_flag=gated.train_flag)
  params = variables['params']
  grads = jax.grad(lambda p: jnp.sum(half.apply(
      {**variables, 'params': p}, X, mutable=['batch_stats'],
      rngs={'gate': jax.random.key(0)}, **train_kw)[0][0] ** 2))(params)
  labels = adafilter_method.ADAFILTER.labels(params)  # S found by its name, no plan
  flat_g = flax.traverse_util.flatten_dict(grads)
  flat_l = flax.traverse_util.flatten_dict(labels)
  frozen = [k for k, v in flat_l.items() if v == 'frozen']
  assert frozen and all(np.all(np.asarray(flat_g[k]) == 0) for k in frozen)
  # F moves (jax-resnet starts each block's last BN at scale 0: no gradient there yet).
  f_first = tuple(gated.plan[0].conv.split('/')) + ('kernel',)
  assert np.abs(np.asarray(flat_g[f_first])).max() > 0
  optim = base.get_config().optim
  tx = optimizer.make(optim, labels, steps_per_epoch=10)
  state = tx.init(params)
  state_leaves = jax.tree_util.tree_leaves_with_path(state)
  frozen_state = [p for p, _ in state_leaves if any(
      'frozen' in str(getattr(e, 'key', getattr(e, 'name', ''))) for e in p)]
  assert not frozen_state
  updates, _ = tx.update(grads, state, params)
  flat_u = flax.traverse_util.flatten_dict(updates)
  assert all(np.all(np.asarray(flat_u[k]) == 0) for k in frozen)


@pytest.mark.parametrize('decision', [1, 0])
def test_nan_in_the_unpicked_branch_never_reaches_the_output(decision):
  model, gated, plain_f, plain_s, variables, train_kw, eval_kw = _setup('small_cnn', decision)
  poisoned = jax.tree.map(lambda v: v, variables)
  flat = flax.traverse_util.flatten_dict(poisoned['params'])
  unpicked = [dst if decision else src for dst, src in transform.copies(gated.plan)
              if dst[-1].startswith('Conv')]
  for key in [k for k in flat if k[:1] in [u[:1] for u in unpicked]]:
    flat[key] = jnp.full_like(flat[key], jnp.nan)
  poisoned['params'] = flax.traverse_util.unflatten_dict(flat)
  want, _ = _plain(model, plain_f if decision else plain_s, eval_kw, False)
  out, _ = gated.apply(poisoned, X, **eval_kw)
  np.testing.assert_allclose(out, want, atol=1e-5, rtol=1e-5)
  (out, _), _ = gated.apply(poisoned, X, mutable=['batch_stats'], **train_kw)
  assert np.all(np.isfinite(out))


def test_plan_is_plain_data_printed_and_overridable():
  model, _, eval_kw = _small_cnn()
  gated = transform.gate(model, X, gate=_gate(), **eval_kw)
  assert [(l.conv, l.norm, l.features) for l in gated.plan] == [
      ('Conv_0', 'BatchNorm_0', 4), ('Conv_1', 'BatchNorm_1', 5), ('Conv_2', None, 6)]
  text = transform.plan_json(gated.plan)
  assert transform.plan_from_json(text) == gated.plan
  plan = (gated.plan[0].__class__(**{**gated.plan[0].__dict__, 'gated': False}),) + \
      gated.plan[1:]
  edited = transform.gate(model, X, gate=_gate(), plan=plan, **eval_kw)
  variables = edited.init({'params': jax.random.key(0)}, X, **eval_kw)
  assert 'Conv_0_pre' not in variables['params'] and 'Conv_1_pre' in variables['params']
  _, decisions = edited.apply(variables, X, **eval_kw)
  assert sorted(decisions) == ['Conv_1', 'Conv_2']


def test_copies_start_from_the_users_weights():
  model, _, eval_kw = _small_cnn()
  gated = transform.gate(model, X, gate=_gate(), **eval_kw)
  init = gated.init({'params': jax.random.key(0)}, X, **eval_kw)
  user = model.init(jax.random.key(5), X, **eval_kw)
  merged = transform.with_copies(_branch_variables(user, {}, init, ()), gated.plan)
  for col in ('params', 'batch_stats'):
    for dst, src in transform.copies(gated.plan):
      for a, b in zip(jax.tree.leaves(user[col].get(src[0], {})),
                      jax.tree.leaves(merged[col].get(dst[0], {}))):
        np.testing.assert_array_equal(a, b)


def test_a_conv_under_remat_is_refused_in_one_line():
  class Block(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.BatchNorm(use_running_average=True)(nn.Conv(4, (3, 3))(x))

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.remat(Block)()(x).mean((1, 2))

  with pytest.raises(ValueError, match=r"conv 'CheckpointBlock_0/Conv_0' runs inside a "
                                       r"linen transform \(nn.remat"):
    transform.gate(Net(), X, gate=_gate())


def test_cnn_gate_through_the_transform():
  """Table 4's gate (a ResNet trunk on the image, one head per layer): its trunk's own
  convs are not gated, every user conv gets decisions of its width."""
  model, train_kw, eval_kw = _small_cnn()
  block = tiny.adafilter_block(gate='cnn', gate_width=4)
  gated = transform.gate(model, X, gate=adafilter_models.gate_def(block, {}), **eval_kw)
  variables = gated.init({'params': jax.random.key(0)}, X, **eval_kw)
  (_, decisions), _ = gated.apply(variables, X, mutable=['batch_stats'], **train_kw)
  assert {k: v.shape for k, v in decisions.items()} == {
      'Conv_0': (4, 4), 'Conv_1': (4, 5), 'Conv_2': (4, 6)}
  assert 'trunk' in variables['params']['gate']


class _TwoConvBlock(nn.Module):
  """A residual block with two conv+BN pairs side by side (no unit module around each)."""

  @nn.compact
  def __call__(self, x, train: bool):
    y = nn.Conv(x.shape[-1], (3, 3), use_bias=False, name='c1')(x)
    y = nn.relu(nn.BatchNorm(use_running_average=not train, name='b1')(y))
    y = nn.Conv(x.shape[-1], (3, 3), use_bias=False, name='c2')(y)
    return nn.relu(x + nn.BatchNorm(use_running_average=not train, name='b2')(y))


class _BlockNet(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(6, (3, 3), use_bias=False, name='stem')(x)
    for i in range(2):
      x = _TwoConvBlock(name=f'block{i}')(x, train)
    return nn.Dense(3, name='fc')(x.mean((1, 2)))


def test_sibling_convs_of_one_block_are_layers_of_their_own():
  plan = transform.record(_BlockNet(), X, train=False)
  assert [(l.conv, l.norm, l.name) for l in plan] == [
      ('stem', None, 'stem'), ('block0/c1', 'block0/b1', 'block0/c1'),
      ('block0/c2', 'block0/b2', 'block0/c2'), ('block1/c1', 'block1/b1', 'block1/c1'),
      ('block1/c2', 'block1/b2', 'block1/c2')]


def test_blocks_recomputed_through_the_transform_give_the_same_loss_and_gradients():
  """`remat=(Block,)`: the blocks run under nn.checkpoint with the gate's state passed
  in and out; the values, gradients (gate included) and BN statistics are the plain
  form's, and the backward really recomputes (a remat in the jaxpr)."""
  kw = dict(gate=adafilter_models.gate_def(tiny.adafilter_block(embed_dim=4, hidden_dim=4),
                                           {}), train=False)
  plain = transform.gate(_BlockNet(), X, **kw)
  recomputed = transform.gate(_BlockNet(), X, remat=(_TwoConvBlock,), **kw)
  v = plain.init({'params': jax.random.key(0)}, X, train=False)

  def loss(model):
    def f(params):
      (logits, decisions), upd = model.apply({**v, 'params': params}, X, train=True,
                                             mutable=['batch_stats'])
      return jnp.sum(logits ** 2), (decisions, upd)
    return f

  (l0, (d0, u0)), g0 = jax.value_and_grad(loss(plain), has_aux=True)(v['params'])
  (l1, (d1, u1)), g1 = jax.value_and_grad(loss(recomputed), has_aux=True)(v['params'])
  # (Dicts through a jax transform come back key-sorted; the order is the plan's.)
  assert set(d1) == set(d0) == {'stem', 'block0/c1', 'block0/c2', 'block1/c1', 'block1/c2'}
  jax.tree.map(np.testing.assert_array_equal, d1, d0)
  np.testing.assert_allclose(l1, l0, rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), g1, g0)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), u1, u0)
  assert float(jnp.abs(g1['gate']['lstm']['ii']['kernel']).max()) > 0  # through the remat
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: loss(recomputed)(p)[0]))(v['params']))
  assert 'remat' in jaxpr and 'remat' not in str(
      jax.make_jaxpr(jax.grad(lambda p: loss(plain)(p)[0]))(v['params']))
