"""Every recipe of configs/methods/ loads on a dataset config, names a registered method
and builds its model; the recipes carry the papers' settings."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax import methods
from adafilter_jax import pretrained
from adafilter_jax import models
from configs import methods as recipes
from tests.methods import tiny


@pytest.mark.parametrize('name', recipes.RECIPES)
def test_recipe_builds_its_model(name):
  config = recipes.on_dataset('caltech256_30', name)
  assert config.name == f'caltech256_30_{name}' and config.data.name == 'caltech256_30'
  method = methods.get(config.method)
  config.model.arch, config.model.width = 'resnet18', 4
  config.adafilter.embed_dim = config.adafilter.hidden_dim = 8
  config.adafilter.gate_width = 4
  if 'spottune' in config:
    config.spottune.policy_width = 4
    config.spottune.blocks = 'layer2_1,layer4_0'
  model = method.build_model(config, 7, None)
  shapes = jax.eval_shape(lambda: model.init(
      {'params': jax.random.key(0), 'gate': jax.random.key(1)},
      jnp.zeros((1, 32, 32, 3)), train=False))
  assert shapes['params']['fc']['kernel'].shape[-1] == 7
  labels = set(jax.tree.leaves(method.labels(shapes['params'])))
  assert labels <= set(methods.GROUPS) and 'network' in labels


def test_recipes_carry_the_papers_settings():
  get = lambda name: recipes.on_dataset('mit_indoor', name)
  c = get('spottune')
  assert (c.batch_size, c.num_epochs, c.optim.lr, c.optim.gate_lr) == (32, 40, 0.01, 1e-4)
  assert tuple(c.optim.decay_epochs) == (15, 30) and c.optim.decay_factor == 0.1
  assert c.spottune.tau == 5.0 and c.spottune.policy_width == 64
  assert get('spottune_global_k').spottune.k == 3
  c = get('l2sp')
  assert (c.l2sp.alpha, c.l2sp.beta, c.optim.weight_decay) == (0.1, 0.01, 0.0)
  assert get('adafilter_standard_bn').adafilter.gated_bn is False
  assert get('adafilter_cnn_gate').adafilter.gate == 'cnn'
  assert get('random_policy').method == 'random_policy'
  base = get('adafilter')
  assert (base.batch_size, base.num_epochs, base.optim.gate_lr) == (64, 110, 0.1)


def test_cnn_gate_trunk_takes_plain_resnet18_weights():
  config = recipes.on_dataset('caltech256_30', 'adafilter_cnn_gate')
  config.model.arch, config.model.width, config.adafilter.gate_width = 'resnet18', 4, 4
  model = methods.get('adafilter').build_model(config, 5, None)
  x = jnp.zeros((1, 32, 32, 3))
  v = tiny.variables(model, x, train=False)
  trunk = tiny.variables(models.resnet('resnet18', None, width=4), x, seed=2, train=False)
  backbone = tiny.variables(models.resnet('resnet18', 5, width=4), x, seed=3, train=False)
  out = pretrained.transfer(backbone, v, parts={'gate/trunk': trunk})
  jax.tree.map(np.testing.assert_array_equal, out['params']['gate']['trunk'], trunk['params'])
