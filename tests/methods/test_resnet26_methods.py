"""Every method on the Decathlon ResNet-26: SpotTune's own setting (stage 1 frozen, 8
blocks gated, ResNet-26 policy), its all-fine-tuned routing, AdaFilter, and the
pretrained weights reaching each model."""
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods
from adafilter_jax.weights import pretrained
from adafilter_jax.models import resnet26
from tests.methods import decathlon_tiny as dtiny
from tests.methods import tiny

GATED = [b for b in resnet26.block_names() if not b.startswith('layer1')]


def _spottune_config(method):
  c = dtiny.config(method)
  c.spottune.policy_width = 4
  return c


def test_spottune_freezes_stem_and_stage1_and_gates_the_other_8_blocks():
  config = _spottune_config('spottune')
  before, params, stats = dtiny.train(config, jit=True)  # eager SpotTune is slower
  for name in ['conv1', 'layer1_0', 'layer1_1', 'layer1_2', 'layer1_3']:
    assert dtiny.unchanged(before['params'], params, name), name
    assert dtiny.unchanged(before['batch_stats'], stats, name), name
  for name in GATED:
    assert dtiny.unchanged(before['params'][name], params[name], 'block_pre'), name
    assert dtiny.moved_everywhere(before['params'][name], params[name], 'block_ft'), name
  assert dtiny.moved_everywhere(before['params']['gate'], params['gate'], 'fc')
  model = methods.get('spottune').build_model(config, 5, None)
  _, gates = model.apply({'params': params, 'batch_stats': stats},
                         jnp.ones((2, 16, 16, 3)), train=False)
  assert list(gates) == GATED and all(g.shape == (2, 1) for g in gates.values())


def _eval_gates(method, arch):
  config = _spottune_config(method)
  config.model.arch = arch
  model = methods.get(method).build_model(config, 5, None)
  x = jax.random.normal(jax.random.key(0), (6, 16, 16, 3))
  variables = tiny.variables(model, x, train=False)
  variables['params']['gate']['fc']['bias'] = jnp.tile(jnp.array([3.0, -3.0]), len(
      variables['params']['gate']['fc']['bias']) // 2)  # the policy says "frozen" always
  return model.apply(variables, x, train=False)[1]


def test_all_finetuned_routing_at_test_time():
  for arch in ('resnet26', 'resnet18'):
    routed = _eval_gates('spottune_all_ft', arch)
    policy = _eval_gates('spottune', arch)
    assert len(routed) == 8  # resnet26: stages 2-3; resnet18: all 8 blocks
    assert all(np.all(np.asarray(g) == 1) for g in routed.values()), arch
    assert all(np.all(np.asarray(g) == 0) for g in policy.values()), arch


def test_adafilter_gates_every_conv_of_resnet26():
  config = dtiny.config('adafilter')
  model = methods.get('adafilter').build_model(config, 5, None)
  x = jnp.ones((2, 16, 16, 3))
  variables = tiny.variables(model, x, train=False)
  _, gates = model.apply(variables, x, train=False)
  assert len(gates) == 1 + 2 * 12 and gates['layer3_3/conv2'].shape == (2, 32)


def test_converted_weights_reach_every_method():
  plain = resnet26.resnet26(10, width=4)
  x = jnp.ones((1, 16, 16, 3))
  source = tiny.variables(plain, x, train=False, seed=1)
  for method in ('finetune', 'feature_extractor', 'spottune', 'adafilter'):
    config = _spottune_config(method) if method == 'spottune' else dtiny.config(method)
    model = methods.get(method).build_model(config, 5, None)
    variables = pretrained.transfer(source, tiny.variables(model, x, train=False))
    flat = jax.tree_util.tree_leaves_with_path(variables['params'])
    kernels = {jax.tree_util.keystr(p): v for p, v in flat if 'layer2_1' in str(p)
               and 'conv1' in str(p) and 'kernel' in str(p)}
    assert kernels, method
    for v in kernels.values():  # F = S = the pretrained kernel, in every copy
      np.testing.assert_array_equal(v, source['params']['layer2_1']['conv1']['conv']['kernel'])


def test_global_k_fixed_model_on_resnet26():
  config = _spottune_config('spottune_fixed')
  config.spottune.blocks = 'layer2_3,layer3_0,layer3_3'
  model = methods.get('spottune_fixed').build_model(config, 5, None)
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((1, 16, 16, 3)))['params']
  assert 'gate' not in shapes
  assert set(shapes['layer3_0']) == {'block_ft'} and set(shapes['layer3_1']) == {'block_pre'}
  assert set(shapes['layer1_2']) == {'block_pre'}  # stage 1: frozen, never a choice
  config.spottune.blocks = 'layer1_0'
  with np.testing.assert_raises_regex(ValueError, 'not gated blocks of resnet26'):
    methods.get('spottune_fixed').build_model(config, 5, None)
