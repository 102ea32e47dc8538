"""Bad input names the problem before anything trains, and loses nothing.

The demo's stages run one after another, so a mistake in a later stage used to surface
only after the earlier ones had trained: each demo test replaces the training by a
sentinel and asserts the error comes first (the workdir stays empty).
"""
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from adafilter_jax import methods
from adafilter_jax.weights import pretrained
from adafilter_jax.data import pipeline
from adafilter_jax.train import checkpoint
from adafilter_jax.train import checks
from adafilter_jax.train import loop
from adafilter_jax.apps.demos import digits as demo
from adafilter_jax.train.loop import train_and_evaluate
from adafilter_jax.train import state as state_lib
from tests import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from configs import demo as demo_config  # pylint: disable=g-import-not-at-top


class Trained(Exception):
  """Raised instead of training: the check under test came too late."""


@pytest.fixture
def no_training(monkeypatch):
  def train(*args, **kwargs):
    raise Trained('a stage started training before the error')

  monkeypatch.setattr(loop, 'train_and_evaluate', train)


def _demo(**overrides):
  config = demo_config.get_config()
  config.data.data_dir = tiny_config.DATA_DIR
  config.update_from_flattened_dict(overrides)
  return config


@pytest.mark.parametrize('key, value', [('method', 'finetune'), ('pretrained', 'weights/x')])
def test_demo_rejects_an_override_it_would_ignore(tmp_path, no_training, key, value):
  with pytest.raises(ValueError, match=f'config.{key}.*ignored') as e:
    demo.run(_demo(**{key: value}), str(tmp_path))
  if key == 'method':
    assert 'config.demo.methods' in str(e.value)
  assert os.listdir(tmp_path) == []


def test_demo_misspelt_method_fails_before_the_source_stage(tmp_path, no_training):
  config = _demo(**{'demo.methods': ('adafilter', 'fintune')})
  with pytest.raises(ValueError, match=r"config.demo.methods.*'fintune'.*known"):
    demo.run(config, str(tmp_path))
  assert os.listdir(tmp_path) == []


def test_demo_checks_its_target_dataset_before_the_source_stage(tmp_path, no_training):
  config = _demo(**{'data.name': 'image_folder/never_prepared'})
  with pytest.raises(FileNotFoundError, match='never_prepared.*not prepared'):
    demo.run(config, str(tmp_path))


def test_demo_refuses_the_workdir_of_a_training_run(tmp_path, no_training):
  """The demo pointed at one of its own runs (runs/demo/adafilter) stops as training does
  in another method's workdir, naming the method, and leaves that run as it was."""
  workdir = tmp_path / 'adafilter'
  with checkpoint.Checkpoints(str(workdir / 'checkpoints')) as ckpts:
    ckpts.save(12, {'x': np.zeros(2, np.float32)}, {'epoch': 1, 'method': 'adafilter'})
  before = sorted(os.listdir(workdir))
  with pytest.raises(ValueError, match=f"{workdir} holds a checkpoint with method='adafilter', "
                                       "this run has 'demo': use another --workdir"):
    demo.run(_demo(), str(workdir))
  assert sorted(os.listdir(workdir)) == before


def test_batch_size_that_does_not_divide_the_devices(tmp_path, monkeypatch):
  def no_compile(*args, **kwargs):
    raise Trained('compiled before the error')

  monkeypatch.setattr(state_lib, 'init_variables', no_compile)
  monkeypatch.setattr(jax, 'device_count', lambda: 3)
  with pytest.raises(ValueError, match='config.batch_size=10 is not divisible by the 3'):
    train_and_evaluate(tiny_config.config(), str(tmp_path / 'run'))


def test_demo_checks_the_source_batch_size_first(tmp_path, monkeypatch, no_training):
  monkeypatch.setattr(jax, 'device_count', lambda: 3)
  config = _demo(batch_size=12, eval_batch_size=126)  # the target stage's divide by 3
  with pytest.raises(ValueError, match='config.demo.source_batch_size=32 is not divisible'):
    demo.run(config, str(tmp_path))
  assert os.listdir(tmp_path) == []


def test_demo_workdir_with_source_weights_of_another_model(tmp_path, no_training):
  """An earlier demo's weights (width 4) in the workdir of this one (width 16): the
  source stage would be skipped and the target stages fail; named first instead."""
  pretrained.save(_zeros('resnet18', 4), str(tmp_path / 'source_weights'))
  with pytest.raises(ValueError, match=r'(?s)source_weights: weights of another model.*another '
                                       r'--workdir.*conv1/bn/bias: model \(16,\) vs pretrained'):
    demo.run(_demo(), str(tmp_path))


def test_main_names_a_config_key_that_does_not_exist():
  proc = subprocess.run(
      [sys.executable, 'main.py', '--config', 'configs/demo.py', '--config.demo.metods=x'],
      cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'), capture_output=True, text=True,
      timeout=120)
  assert proc.returncode != 0
  assert "--config.demo.metods: configs/demo.py has no field 'metods'" in proc.stderr
  assert "did you mean 'methods'" in proc.stderr
  assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]


def _zeros(arch, width, method='finetune'):
  """A model's variables as zeros, from shapes alone (nothing compiled)."""
  config = tiny_config.config(method)
  config.model.arch, config.model.width = arch, width
  model = methods.get(method).build_model(config, 5, None)
  shapes = jax.eval_shape(lambda: state_lib.abstract_variables(model, 16))
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


@pytest.mark.parametrize('arch, width, first', [
    ('resnet18', 8, 'params/conv1/bn/bias: model (8,) vs pretrained (4,)'),
    ('resnet50', 4, 'params/layer1_0/conv1/conv/kernel: model (1, 1, 4, 4) vs pretrained '
                    '(3, 3, 4, 4)'),
])
def test_weights_of_another_architecture_name_the_first_mismatch(arch, width, first):
  weights = _zeros('resnet18', 4)
  with pytest.raises(ValueError) as e:
    pretrained.transfer(weights, _zeros(arch, width))
  message = str(e.value)
  assert first in message.splitlines()[1], message[:500]
  assert len(message.splitlines()) <= 25, 'hundreds of lines hide the first one'
  assert 'more' in message.splitlines()[-1]


@pytest.mark.parametrize('key, value, accepted', [
    ('batch_size', -4, 'an integer >= 1'),
    ('batch_size', 0, 'an integer >= 1'),
    ('eval_batch_size', 0, 'an integer >= 1'),
    ('num_epochs', 0, 'an integer >= 1'),
    ('seed', -1, 'an integer >= 0'),
    ('optim.lr', -0.1, 'a number >= 0'),
    ('optim.gate_lr', -1.0, 'a number >= 0'),
    ('optim.head_lr', -1.0, 'None or a number >= 0'),
    ('optim.momentum', 1.0, 'a number in [0, 1)'),
    ('optim.weight_decay', -1e-4, 'a number >= 0'),
    ('optim.decay_factor', 0.0, 'a number in (0, 1]'),
    ('data.image_size', 0, 'an integer >= 1'),
    ('data.resize_size', 8, 'an integer >= config.data.image_size=16'),
    ('data.val_fraction', 1.0, 'a number in [0, 1)'),
    ('data.num_workers', -1, 'an integer >= 0'),
    ('data.crop_scale', (0.5, 0.2), 'two numbers 0 < min <= max <= 1'),
    ('optim.decay_epochs', (3, 2), 'increasing epochs in [1, config.num_epochs=4]'),
    ('optim.decay_epochs', (2, 5), 'increasing epochs in [1, config.num_epochs=4]'),
    ('adafilter.random_p', 1.5, 'a number in [0, 1]'),
])
def test_every_numeric_field_is_checked_before_anything_is_read(
    tmp_path, monkeypatch, key, value, accepted):
  """Each bad value fails naming its key, the value and what is accepted, before the
  dataset is read, the model built or the workdir written."""
  def nothing(*args, **kwargs):
    raise Trained('went past the config checks')

  monkeypatch.setattr(pipeline, 'load_dataset_info', nothing)
  config = tiny_config.config(epochs=4, **{key: value})
  shown = str(tuple(value)) if isinstance(value, tuple) else str(value)
  with pytest.raises(ValueError) as e:
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert f'config.{key}={shown}: must be {accepted}' in str(e.value)
  assert not (tmp_path / 'run').exists()


def test_several_bad_fields_are_named_together():
  config = tiny_config.config(batch_size=-4, num_epochs=0)
  with pytest.raises(ValueError, match=r'(?s)config.batch_size=-4.*config.num_epochs=0'):
    checks.validate(config)


def test_main_user_errors_are_one_message_without_a_traceback(tmp_path):
  """A user's mistakes on main.py's command line: each one message naming it, exit status
  1, no traceback, nothing written. (Several command lines at once: each process spends
  its seconds importing.)"""
  workdir = tmp_path / 'run'
  tiny_run = ['--config', 'configs/tiny.py', f'--workdir={workdir}',
              f'--config.data.data_dir={tiny_config.DATA_DIR}']
  syntax, name = tmp_path / 'syntax.py', tmp_path / 'name.py'  # a config's own mistakes
  syntax.write_text('from configs import base\n\ndef get_config(:\n  return base.get_config()\n')
  name.write_text('from configs import base\n\n\ndef get_config():\n  c = base.get_config()\n'
                  '  c.num_epochs = epochs\n  return c\n')
  cases = [
      (['--config', str(syntax)], f'error: {syntax}, line 3: SyntaxError: invalid syntax'),
      (['--config', str(name), f'--workdir={workdir}'],
       f"error: {name}, line 6: NameError: name 'epochs' is not defined"),
      (tiny_run + ['--config.batch_size=-4'], 'config.batch_size=-4: must be an integer >= 1'),
      (['--config', 'configs/tiny_typo.py'], '--config: configs/tiny_typo.py: no such file'),
      (['--config', 'configs/transfer.py:dataset=cubz,method=l2sp'],  # a family's argument
       "ValueError: unknown dataset 'cubz': neither a config configs/cubz.py"),
      (tiny_run + ['--config.data.name=digts_target'],
       "unknown dataset 'digts_target' (config.data.name): did you mean 'digits_target'"),
  ]
  procs = [subprocess.Popen([sys.executable, 'main.py', *argv], cwd=ROOT, text=True,
                            env=dict(os.environ, JAX_PLATFORMS='cpu'),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE) for argv, _ in cases]
  for proc, (argv, message) in zip(procs, cases):
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, (argv, err[-2000:])
    assert message in err, (argv, err[-2000:])
    assert 'Traceback' not in err and 'abstract_reasoning' not in err, err[-2000:]
    # absl's log lines aside, the message is all there is.
    assert len([l for l in err.splitlines() if not re.match(r'[IWEF]\d{4} ', l)]) <= 3, err
  assert not workdir.exists()
