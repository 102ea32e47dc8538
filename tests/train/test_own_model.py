"""A user's own model, named by the config, trained end to end from main.py on an image
folder (docs/own_model.md): a third-party ResNet (PyPI's jax-resnet) from its own weights."""
import json
import os
import subprocess
import sys

import flax
import jax
import jax.numpy as jnp
import jax_resnet
import numpy as np
import pytest

from adafilter_jax import methods
from adafilter_jax.data import prepare as prepare_lib
from adafilter_jax.inference import restore
from adafilter_jax.train import checks
from configs.tiny import get_config as tiny_config
from tests.data import data_fakes
from tests.train import runs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KWARGS = {'hidden_sizes': [4, 8, 8, 8]}


def test_main_trains_adafilter_on_a_users_model_from_its_weights(tmp_path):
  manual = data_fakes.image_folder(str(tmp_path / 'pets'), per_class=4, splits=['train', 'test'])
  data_dir = str(tmp_path / 'tfds')
  prepare_lib.prepare('image_folder/pets', data_dir=data_dir, manual_dir=manual)
  # The user's weights: their network pretrained with 7 classes, as a msgpack file.
  pretrained = jax_resnet.ResNet18(n_classes=7, **KWARGS)
  user = jax.device_get(pretrained.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3))))
  weights = str(tmp_path / 'resnet18.msgpack')
  with open(weights, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(user))
  workdir = tmp_path / 'run'
  argv = ['--config', 'configs/tiny.py', f'--workdir={workdir}', '--config.method=adafilter',
          '--config.data.name=image_folder/pets', f'--config.data.data_dir={data_dir}',
          '--config.own_model.cls=jax_resnet:ResNet18',
          f'--config.own_model.kwargs={json.dumps(KWARGS)}',
          '--config.own_model.num_classes_arg=n_classes', '--config.own_model.head=layers_11',
          f'--config.own_model.weights={weights}', '--config.adafilter.gated_layers=all',
          '--config.batch_size=4', '--config.eval_batch_size=8', '--config.num_epochs=1',
          '--config.optim.decay_epochs=()']
  proc = subprocess.run([sys.executable, 'main.py', *argv], cwd=ROOT, capture_output=True,
                        text=True, env=dict(os.environ, JAX_PLATFORMS='cpu'), timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  (record,) = [r for r in runs.records(str(workdir)) if 'eval_top1' in r]
  assert np.isfinite(record['train_loss']) and 0 <= record['eval_top1'] <= 1
  # Every conv of the user's network was gated: one logged fraction of F per conv.
  convs = [k for k in flax.traverse_util.flatten_dict(user['params'])
           if k[-1] == 'kernel' and k[-2].startswith('Conv')]
  assert len(record['gate_fraction']) == len(convs) == 20
  # The plan, saved in the run: the same convs, each with its BatchNorm.
  with open(workdir / 'adafilter_plan.json') as f:
    plan = json.load(f)
  assert [l['conv'] for l in plan] == ['/'.join(k[:-1]) for k in convs]
  assert all(l['norm'] == l['conv'].replace('Conv_0', 'BatchNorm_0') for l in plan)
  # The run restores for evaluation and prediction, its model rebuilt from its config.
  restored = restore.restore(str(workdir))
  infer = restore.make_infer_fn(restored.model, restored.config.data, restored.layers)
  out = infer(restored.variables, np.zeros((3, 16, 16, 3), np.uint8))
  assert out['logits'].shape == (3, 2) and out['fraction'].shape == (3,)


def test_a_method_that_cannot_build_the_users_model_is_named_before_anything_runs():
  config = tiny_config()
  config.own_model.cls, config.method = 'jax_resnet:ResNet18', 'l2sp'
  with pytest.raises(ValueError, match=r"config.own_model.cls='jax_resnet:ResNet18' trains "
                                       r"with the methods \('finetune', 'adafilter'\), not "
                                       r"config.method='l2sp'"):
    checks.validate(config)


def test_remat_of_the_projects_resnet_is_refused_for_a_users_model():
  config = tiny_config()
  config.own_model.cls, config.model.remat = 'jax_resnet:ResNet18', True
  with pytest.raises(ValueError, match=r'config.model.remat=True recomputes this project'):
    checks.validate(config)


def test_finetune_builds_the_users_model_as_it_is_its_head_a_group_of_its_own():
  config = tiny_config()
  config.method = 'finetune'
  config.own_model.update(cls='jax_resnet:ResNet18', kwargs=json.dumps(KWARGS),
                          num_classes_arg='n_classes', head='layers_11')
  model = methods.get('finetune').build_model(config, 3)
  x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
  variables = model.init({'params': jax.random.key(1)}, x, train=False)
  logits, gates = model.apply(variables, x, train=False)
  mine = jax_resnet.ResNet18(n_classes=3, **KWARGS).apply(variables, x)  # the user's call
  np.testing.assert_array_equal(logits, mine)
  assert gates == {}
  groups = flax.traverse_util.flatten_dict(
      methods.get('finetune').labels(variables['params'], config))
  assert {g for k, g in groups.items() if k[0] == 'layers_11'} == {'head'}
  assert {g for k, g in groups.items() if k[0] != 'layers_11'} == {'network'}
