"""Surgical fine-tuning, Auto-RGN and BitFit after real optimizer steps: which params
move, and Auto-RGN's per-tensor rates against a hand computation of relative gradient
norms."""
import types

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax import methods
from adafilter_jax.methods import surgical
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from tests.methods import tiny

X = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
BATCH = {'image': X, 'label': jnp.array([0, 1, 2, 3])}


def _trained(name, num_steps=2, steps_per_epoch=10, **overrides):
  config = tiny.config(name, **overrides)
  method = methods.get(name)
  model = method.build_model(config, 5, None)
  variables = tiny.variables(model, X, train=False)
  state = state_lib.create_state(method, model, variables, config, steps_per_epoch)
  step = jax.jit(steps.make_train_step(method, config, None))
  for i in range(num_steps):
    state, _ = step(state, BATCH, jax.random.key(i), None)
  return config, model, variables, state


def _moved(before, after) -> dict:
  flat = lambda t: flax.traverse_util.flatten_dict(t, sep='/')
  return {p: not np.array_equal(v, flat(after)[p]) for p, v in flat(before).items()}


def test_surgical_moves_exactly_the_chosen_block_and_the_head():
  _, _, variables, state = _trained('surgical', **{'surgical.modules': 'layer2_0'})
  moved = _moved(variables['params'], state.params)
  # Weight decay (5e-4, TLlib's) is on: the frozen kernels stay all the same.
  assert moved == {p: p.split('/')[0] in ('layer2_0', 'fc') for p in moved}


def test_surgical_stages_blocks_and_stem_by_name():
  params = {n: {} for n in ('conv1', 'layer1_0', 'layer1_1', 'layer2_0', 'layer2_1',
                            'layer10_0', 'fc')}
  assert surgical.tuned_modules(params, 'layer1') == {'layer1_0', 'layer1_1'}
  assert surgical.tuned_modules(params, 'layer2_1') == {'layer2_1'}
  # The official code's "first_two_block": the stem and the first stage.
  assert surgical.tuned_modules(params, 'conv1, layer1') == {'conv1', 'layer1_0', 'layer1_1'}
  assert surgical.tuned_modules(params, '') == set()  # the head alone: a linear probe
  assert surgical.tuned_modules(params, 'last') == {'layer10_0'}  # numerically last


def test_surgical_names_what_it_does_not_find():
  config = tiny.config('surgical', **{'surgical.modules': 'layer5'})
  method = methods.get('surgical')
  params = tiny.variables(method.build_model(config, 5, None), X, train=False)['params']
  with pytest.raises(ValueError, match=r"'layer5' names no stage.*'layer4_0'"):
    method.labels(params, config)


def test_bitfit_moves_exactly_bn_parameters_and_the_head():
  _, _, variables, state = _trained('bitfit')
  moved = _moved(variables['params'], state.params)
  is_bn = lambda p: p.split('/')[-2] == 'bn' and p.split('/')[-1] in ('scale', 'bias')
  assert moved == {p: p.startswith('fc/') or is_bn(p) for p in moved}


def test_auto_rgn_steps_at_the_relative_gradient_norms():
  """Real optimizer steps of the method's optimizer (TLlib's recipe: Nesterov, weight decay
  on kernels, head at 10x) on a ResNet-shaped params tree, against numpy: each tensor's
  SGD step times ||g||/||theta|| over the largest, BN tensors still; the rates hold for the
  epoch (2 steps) and are set afresh from the gradient at the next epoch's first step."""
  config = tiny.config('auto_rgn')
  method, o, rng = methods.get('auto_rgn'), config.optim, np.random.RandomState(0)
  shapes = {'conv1/conv/kernel': (3, 3, 3, 4), 'conv1/bn/scale': (4,), 'conv1/bn/bias': (4,),
            'layer1_0/conv1/conv/kernel': (3, 3, 4, 4), 'layer1_0/conv1/bn/scale': (4,),
            'layer1_0/conv1/bn/bias': (4,), 'fc/kernel': (4, 5), 'fc/bias': (5,)}
  params = {p: rng.randn(*s).astype(np.float32) for p, s in shapes.items()}
  tree = lambda flat: flax.traverse_util.unflatten_dict(flat, sep='/')
  state = state_lib.create_state(method, types.SimpleNamespace(apply=None),
                                 {'params': tree(params), 'batch_stats': {}}, config, 2)
  theta = {p: v.astype(np.float64) for p, v in params.items()}
  buf = {p: 0.0 for p in params}
  for step in range(3):
    grads = {p: (rng.randn(*s) * 10.0 ** rng.uniform(-2, 1)).astype(np.float32)
             for p, s in shapes.items()}
    if step % 2 == 0:  # an epoch's first step: ||g|| / ||theta||, BN left out, over the max
      rgn = {p: 0.0 if '/bn/' in p else np.linalg.norm(g) / np.linalg.norm(theta[p])
             for p, g in grads.items()}
      weights = {p: r / max(rgn.values()) for p, r in rgn.items()}
    state = state.apply_gradients(grads=tree(grads))
    for p, g in grads.items():
      g = g + (o.weight_decay * theta[p] if p.endswith('kernel') else 0.0)
      buf[p] = o.momentum * buf[p] + g
      lr = o.head_lr if p.startswith('fc/') else o.lr
      theta[p] = theta[p] - lr * weights[p] * (g + o.momentum * buf[p])  # Nesterov
    got = flax.traverse_util.flatten_dict(state.params, sep='/')
    for p in params:
      np.testing.assert_allclose(got[p], theta[p], rtol=1e-5, atol=1e-7, err_msg=(step, p))
    assert sorted(set(weights.values()))[0] == 0.0 and max(weights.values()) == 1.0
  for p in params:  # BN tensors never moved
    if '/bn/' in p:
      np.testing.assert_array_equal(got[p], params[p])


def test_rgn_weights_of_an_all_zero_tensor_and_of_frozen_ones():
  grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([1.0, 0.0]), 'z': jnp.array([1.0]),
           'f': jnp.array([100.0])}
  params = {'a': jnp.array([1.0, 0.0]), 'b': jnp.array([0.0, 2.0]), 'z': jnp.array([0.0]),
            'f': jnp.array([1.0])}
  trainable = {'a': True, 'b': True, 'z': True, 'f': False}
  w = jax.tree.map(float, surgical.rgn_weights(grads, params, trainable))
  assert w == pytest.approx({'a': 1.0, 'b': 0.1, 'z': 1.0, 'f': 0.0})  # 5/1, 1/2 -> 1, .1
