"""Fine-tuning half: the stem and the first half of the blocks never move."""
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods
from adafilter_jax.methods import finetune_half
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from tests.methods import tiny


def _shapes(arch):
  model = methods.get('finetune').build_model(tiny.config('finetune', arch), 5, None)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))


def test_first_half_of_the_blocks_for_any_depth():
  assert finetune_half.frozen_modules(_shapes('resnet50')['params']) == {
      'conv1', 'layer1_0', 'layer1_1', 'layer1_2', 'layer2_0', 'layer2_1', 'layer2_2',
      'layer2_3', 'layer3_0'}  # 8 of ResNet-50's 16 blocks: 3 + 4 + 1
  assert finetune_half.frozen_modules(_shapes('resnet18')['params']) == {
      'conv1', 'layer1_0', 'layer1_1', 'layer2_0', 'layer2_1'}
  # ResNet-101: 16 of 33 blocks, layer3_9 onwards trains (layer3_10 sorts numerically)
  frozen = finetune_half.frozen_modules(_shapes('resnet101')['params'])
  assert len(frozen) == 17 and 'layer3_8' in frozen and 'layer3_9' not in frozen


def test_frozen_parameters_unchanged_after_training_steps():
  config = tiny.config('finetune_half')
  method = methods.get('finetune_half')
  model = method.build_model(config, 5, None)
  x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
  variables = tiny.variables(model, x, train=False)
  state = state_lib.create_state(method, model, variables, config, steps_per_epoch=10)
  step = jax.jit(steps.make_train_step(method, config, None))
  batch = {'image': x, 'label': jnp.array([0, 1, 2, 3])}
  for i in range(2):
    state, _ = step(state, batch, jax.random.key(i), None)
  frozen = finetune_half.frozen_modules(variables['params'])
  for name, before in variables['params'].items():
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: not np.array_equal(a, b), before,
                                         state.params[name]))
    if name in frozen:
      assert not any(moved), name  # weight decay included
    else:
      assert all(moved), name
