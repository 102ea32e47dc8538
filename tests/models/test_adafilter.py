"""AdaFilter's model: reduction to the pretrained network, frozen S, per-example gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from adafilter_jax.models.selected_bn import SelectedBatchNorm
from adafilter_jax.weights import pretrained
from tests.models import tiny
from tests.models import conversion
from tests.models.torch_resnet import torch_resnet


def _pretrained_pair(width, num_classes=10, size=64, seed=0):
  """A torch reference net, its input and its converted weights."""
  net = torch_resnet('resnet50', num_classes, width=width, seed=seed)
  variables = conversion.convert_unchecked({k: v.numpy() for k, v in net.state_dict().items()})
  x = np.random.RandomState(seed).randn(4, 3, size, size).astype(np.float32)
  with torch.no_grad():
    ref = net(torch.from_numpy(x))[0].numpy()
  return variables, jnp.asarray(x.transpose(0, 2, 3, 1)), ref


def _adafilter_from(variables, x, **kw):
  model = tiny.adafilter('resnet50', 10, width=variables['params']['conv1']['conv']
                                  ['kernel'].shape[-1], **kw)
  init = model.init({'params': jax.random.PRNGKey(1), 'gate': jax.random.PRNGKey(2)}, x)
  ada = pretrained.transfer(variables, init)
  ada['params']['fc'] = variables['params']['fc']  # compare against the same head
  return model, ada


def _module(path) -> str:
  """The module that holds a param: F is a unit's 'conv', S its 'conv_pre'."""
  return path[-2].key


def _set_gate_bias(params, value_fn):
  """Sets every LSTM head to kernel 0 and the given bias: input-independent decisions."""
  gate = dict(params['gate'])
  for k in [k for k in gate if k.startswith('head_')]:
    b = gate[k]['bias']
    gate[k] = {'kernel': jnp.zeros_like(gate[k]['kernel']), 'bias': value_fn(k, b.shape)}
  return {**params, 'gate': gate}


def test_gate_zero_everywhere_reproduces_pretrained_resnet50():
  # Width 16, as below: the same shapes, so the ops traced one by one compile once for the
  # file (the full-width layout is the converter's test, test_convert.py).
  variables, x, ref = _pretrained_pair(16)
  model, ada = _adafilter_from(variables, x)
  # Make F differ from S, so only a gate of 0 can give the pretrained logits.
  ada['params'] = jax.tree_util.tree_map_with_path(
      lambda p, v: v * 1.5 if _module(p) == 'conv' else v, ada['params'])
  ada['params'] = _set_gate_bias(ada['params'], lambda k, s: jnp.full(s, -5.0))
  logits, gates = model.apply(ada, x, train=False)
  assert len(gates) == 53  # stem + 16 blocks x 3 convs + 4 projections
  assert all(float(g.max()) == 0.0 for g in gates.values())
  assert conversion.rel_err(logits, ref) <= 1e-4


@pytest.mark.parametrize('gated_bn', [True, False])
def test_f_equal_s_any_gate_reproduces_pretrained(gated_bn):
  variables, x, ref = _pretrained_pair(16)
  model, ada = _adafilter_from(variables, x, gated_bn=gated_bn)
  rng = np.random.RandomState(0)
  ada['params'] = _set_gate_bias(ada['params'],
                                 lambda k, s: jnp.asarray(rng.choice([-1.0, 1.0], s)))
  logits, gates = model.apply(ada, x, train=False)
  frac = np.mean([float(g.mean()) for g in gates.values()])
  assert 0.3 < frac < 0.7  # the gates really mix both branches
  assert conversion.rel_err(logits, ref) <= 1e-4


def test_gate_decisions_shapes_and_forward_order():
  model = tiny.adafilter('resnet50', 5, width=8)
  x = jnp.ones((3, 32, 32, 3))
  v = model.init({'params': jax.random.PRNGKey(0), 'gate': jax.random.PRNGKey(0)}, x)
  _, gates = model.apply(v, x)
  names = list(gates)
  assert names[:6] == ['conv1', 'layer1_0/conv1', 'layer1_0/conv2', 'layer1_0/conv3',
                       'layer1_0/downsample', 'layer1_1/conv1']
  assert gates['layer4_2/conv3'].shape == (3, 8 * 8 * 4)
  assert set(np.unique(np.concatenate([np.ravel(g) for g in gates.values()]))) <= {0.0, 1.0}
  # One embedding and one head per gated layer, ONE shared LSTM cell.
  gate = v['params']['gate']
  assert sum(k.startswith('embed_') for k in gate) == 53 == sum(k.startswith('head_') for k in gate)
  assert 'lstm' in gate


def test_layer_selection():
  x = jnp.ones((2, 32, 32, 3))
  # ResNet-14: one bottleneck (3 convs) a stage, each with its projection.
  for layers, n in [('blocks', 4 * 3), ('layer4', 3 + 1), ('layer3,layer4', 2 * (3 + 1))]:
    model = tiny.adafilter('resnet14', 5, width=8, gated_layers=layers)
    v = model.init({'params': jax.random.PRNGKey(0)}, x)
    _, gates = model.apply(v, x)
    assert len(gates) == n, layers
    assert 'conv_pre' not in v['params']['conv1']  # an ungated unit: the plain layout


def test_s_never_moves_and_f_does():
  """Every convolution gated (the stem, the blocks and the projections: 12 in a ResNet-10,
  as in the ResNet-50's 53), one SGD step."""
  model = tiny.adafilter('resnet10', 5, width=8)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 32, 32, 3))
  y = jnp.array([0, 1, 2, 3])
  v = jax.jit(lambda: model.init({'params': jax.random.PRNGKey(0)}, x))()

  def loss(params):
    (logits, gates), _ = model.apply({**v, 'params': params}, x, train=True,
                                     mutable=['batch_stats'])
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), len(gates)

  grads, num_gated = jax.jit(jax.grad(loss, has_aux=True))(v['params'])
  assert num_gated == 12
  opt = optax.sgd(0.1)
  updates, _ = opt.update(grads, opt.init(v['params']), v['params'])
  new = optax.apply_updates(v['params'], updates)
  flat_old = jax.tree_util.tree_leaves_with_path(v['params'])
  flat_new = dict(jax.tree_util.tree_leaves_with_path(new))
  moved_ft = 0
  for path, old in flat_old:
    if _module(path) == 'conv_pre':
      np.testing.assert_array_equal(flat_new[path], old)
    elif _module(path) == 'conv':
      moved_ft += int(not np.array_equal(flat_new[path], old))
  assert moved_ft > 8  # nearly every F moved (a layer whose gates are all 0 need not)


@pytest.mark.parametrize('gated_bn', [True, False])
def test_f_channel_gets_gradient_only_from_examples_that_picked_it(gated_bn):
  """A 1x1 gated layer in eval mode, against the gradient computed by hand."""
  rng = np.random.RandomState(0)
  b, h, cin, cout = 3, 4, 5, 6
  g = rng.randint(0, 2, (b, cout)).astype(np.float32)
  g[:, 0] = 0  # a channel no example picks
  x = rng.randn(b, h, h, cin).astype(np.float32)
  dy = rng.randn(b, h, h, cout).astype(np.float32)  # upstream gradient
  layer = tiny.gated_unit(x, cout, 1, g, gated_bn=gated_bn, bn_stats='batch')
  v = layer.init(jax.random.PRNGKey(0), x, False)
  bn = 'bn'  # BN_ft (Eq. 5) or the one BN after the mix (Eq. 6)
  stats = {**v['batch_stats']}
  stats[bn] = {'mean': jnp.asarray(rng.randn(cout)), 'var': jnp.asarray(rng.rand(cout) + 0.5)}
  params = {**v['params']}
  params[bn] = {'scale': jnp.asarray(rng.rand(cout) + 0.5), 'bias': jnp.asarray(rng.randn(cout))}
  v = {'params': params, 'batch_stats': stats}

  def out(w):
    p = {**params, 'conv': {'kernel': w}}
    return jnp.sum(layer.apply({**v, 'params': p}, x, False)[0] * dy)

  w = params['conv']['kernel']
  got = np.asarray(jax.grad(out)(w))[0, 0]  # [cin, cout]
  # y_c = g_c * a_c * (x @ W)_c + ...  =>  dL/dW[:, c] = a_c * sum_b g_bc * x_b^T dy_bc
  a = np.asarray(params[bn]['scale'] / jnp.sqrt(stats[bn]['var'] + 1e-5))
  want = np.einsum('bc,bhwi,bhwc->ic', g, x, dy) * a
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(got[:, 0], 0.0)
  for c in range(cout):  # per example: gradient iff the example picked the channel
    for e in range(b):
      ge = jax.grad(lambda w: jnp.sum(layer.apply({**v, 'params': {**params, 'conv': {
          'kernel': w}}}, x, False)[0][e] * dy[e]))(w)
      assert (np.abs(np.asarray(ge)[0, 0, :, c]).max() > 0) == bool(g[e, c])


def test_selected_bn_stats_are_those_of_the_picking_examples():
  """bn_stats='selected': each branch normalises with the statistics of its examples."""
  rng = np.random.RandomState(1)
  b, cout = 6, 4
  g = rng.randint(0, 2, (b, cout)).astype(np.float32)
  g[:, 0], g[:, 1] = 1, 0  # every example picks F / nobody picks F
  x = rng.randn(b, 5, 5, 3).astype(np.float32)
  layer = tiny.gated_unit(x, cout, 3, g, padding=1, gated_bn=True, bn_stats='selected')
  v = layer.init(jax.random.PRNGKey(0), x, True)
  (y, _), upd = layer.apply(v, x, True, mutable=['batch_stats'])
  f = np.asarray(jax.lax.conv_general_dilated(
      x, v['params']['conv']['kernel'], (1, 1), ((1, 1), (1, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  for c in range(cout):
    pick = g[:, c] == 1
    if pick.any():  # by hand: normalise F's channel over the picking examples only
      fc = f[pick, ..., c]
      want = (fc - fc.mean()) / np.sqrt(fc.var() + 1e-5)
      np.testing.assert_allclose(np.asarray(y)[pick, ..., c], want, rtol=1e-4, atol=1e-4)
      np.testing.assert_allclose(upd['batch_stats']['bn']['mean'][c], 0.1 * fc.mean(),
                                 rtol=1e-4, atol=1e-6)
  assert np.all(np.isfinite(np.asarray(y)))
  # Channel 1: nobody picked F, so F's running statistics did not move.
  assert upd['batch_stats']['bn']['mean'][1] == 0 and upd['batch_stats']['bn']['var'][1] == 1


def test_selected_bn_normalises_a_branch_nobody_picked_with_whole_batch_statistics():
  """bn_stats='selected', a channel whose F no example picked: its BN_ft output (which
  enters the gate's straight-through gradient, BN_ft(F x) - BN_pre(S x)) is F normalised
  over the whole batch, not F / sqrt(eps) (docs/method.md)."""
  rng = np.random.RandomState(2)
  b, cout = 6, 3
  g = rng.randint(0, 2, (b, cout)).astype(np.float32)
  g[:, 0] = 0  # nobody picks F in channel 0
  g[:, 1] = 1  # everybody picks F (nobody S) in channel 1
  x = rng.randn(b, 5, 5, 2).astype(np.float32)
  layer = tiny.gated_unit(x, cout, 3, g, padding=1, gated_bn=True, bn_stats='selected')
  v = layer.init(jax.random.PRNGKey(0), x, True)
  _, out = layer.apply(v, x, True, mutable=['batch_stats', 'intermediates'],
                       capture_intermediates=lambda mdl, _: isinstance(mdl, SelectedBatchNorm))
  conv = lambda w: np.asarray(jax.lax.conv_general_dilated(
      x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  for suffix, c in (('', 0), ('_pre', 1)):
    z = conv(v['params']['conv' + suffix]['kernel'])[..., c]
    want = (z - z.mean()) / np.sqrt(z.var() + 1e-5)  # by hand, over the whole batch
    got = np.asarray(out['intermediates']['bn' + suffix]['__call__'][0])[..., c]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
