"""train_and_evaluate end to end on the offline digits data: output files, resume after
an interrupt equals an uninterrupted run, clear errors before compiling, NaN stops."""
import json
import os
import signal

import jax
import numpy as np
import pytest

from adafilter_jax.data import pipeline
from adafilter_jax.train import Interrupted, NonFiniteLoss, checkpoint, train_and_evaluate
from adafilter_jax.train import state as state_lib
from tests.train import tiny


def _records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def test_adafilter_epoch_writes_all_outputs(tmp_path):
  workdir = str(tmp_path / 'run')
  train_and_evaluate(tiny.config('adafilter'), workdir)
  (record,) = _records(workdir)
  assert record['epoch'] == 1 and record['step'] == 5  # 50 images, batch 10
  for key in ('train_loss', 'train_top1', 'eval_top1', 'eval_mean_class_acc',
              'images_per_sec', 'epoch_time_s'):
    assert np.isfinite(record[key]), key
  assert list(record['gate_fraction']) == ['layer4_0/conv1', 'layer4_0/conv2',
                                           'layer4_0/downsample', 'layer4_1/conv1',
                                           'layer4_1/conv2']
  assert set(record['lr']) == {'network', 'head', 'gate'}
  stats = np.load(os.path.join(workdir, 'gate_stats.npz'))
  n = 846
  assert stats['per_image_layer_fraction'].shape == (n, 5)
  assert stats['per_image_fraction'].shape == stats['index'].shape == stats['pred'].shape == (n,)
  assert sorted(stats['index']) == list(range(n))
  np.testing.assert_allclose(stats['layer_fraction'],
                             list(record['gate_fraction'].values()), rtol=1e-5)
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  assert summary['method'] == 'adafilter' and summary['epochs'] == 1
  assert summary['final_eval_top1'] == summary['best_eval_top1'] == record['eval_top1']
  assert summary['num_params']['frozen'] > 0 and summary['num_params']['gate'] > 0


def _interrupt_after(monkeypatch, n):
  """The train iterator sends SIGTERM to this process after `n` batches."""
  make = pipeline.make_train_iter

  def make_and_interrupt(*args, **kwargs):
    for i, batch in enumerate(make(*args, **kwargs)):
      if i == n:
        signal.raise_signal(signal.SIGTERM)
      yield batch

  monkeypatch.setattr(pipeline, 'make_train_iter', make_and_interrupt)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch):
  config = tiny.config('finetune', epochs=2)
  whole = train_and_evaluate(config, str(tmp_path / 'whole'))

  workdir = str(tmp_path / 'resumed')
  with monkeypatch.context() as m:
    _interrupt_after(m, 7)  # mid-epoch 2
    with pytest.raises(Interrupted):
      train_and_evaluate(config, workdir)
  assert checkpoint.Checkpoints(os.path.join(workdir, 'checkpoints')).latest_step() == 8
  resumed = train_and_evaluate(config, workdir)

  assert int(resumed.step) == int(whole.step) == 10
  jax.tree.map(np.testing.assert_array_equal, resumed.params, whole.params)
  jax.tree.map(np.testing.assert_array_equal, resumed.batch_stats, whole.batch_stats)
  jax.tree.map(np.testing.assert_array_equal, resumed.opt_state, whole.opt_state)
  a, b = _records(workdir), _records(str(tmp_path / 'whole'))
  assert [r['epoch'] for r in a] == [1, 2]
  assert [r['eval_top1'] for r in a] == [r['eval_top1'] for r in b]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  workdir = str(tmp_path / 'run')
  train_and_evaluate(tiny.config('finetune', epochs=1), workdir)
  make = pipeline.make_train_iter

  def poisoned(*args, **kwargs):
    for batch in make(*args, **kwargs):
      yield dict(batch, image=np.full(batch['image'].shape, np.nan, np.float32))

  monkeypatch.setattr(pipeline, 'make_train_iter', poisoned)
  with pytest.raises(NonFiniteLoss, match='last good checkpoint'):
    train_and_evaluate(tiny.config('finetune', epochs=2), workdir)
  ckpts = checkpoint.Checkpoints(os.path.join(workdir, 'checkpoints'))
  assert ckpts.latest_step() == 5
  assert [r['epoch'] for r in _records(workdir)] == [1]


@pytest.mark.parametrize('overrides, error, match', [
    ({'method': 'nope'}, ValueError, 'unknown method'),
    ({'num_classes': 7}, ValueError, 'num_classes=7'),
    ({'pretrained': '/nonexistent/resnet50'}, FileNotFoundError, 'adafilter_jax.convert'),
    ({'parallel': 'pjit'}, ValueError, 'config.parallel'),
])
def test_clear_errors_before_compiling(tmp_path, monkeypatch, overrides, error, match):
  def no_compile(*args, **kwargs):
    raise AssertionError('compiled before the error')

  monkeypatch.setattr(state_lib, 'init_variables', no_compile)
  config = tiny.config()
  config.update(overrides)
  with pytest.raises(error, match=match):
    train_and_evaluate(config, str(tmp_path / 'run'))


def _summary(workdir):
  with open(os.path.join(workdir, 'summary.json')) as f:
    return json.load(f)


def test_interrupt_in_the_last_step_of_an_epoch_still_evaluates_it(tmp_path, monkeypatch):
  """The signal arrives while the epoch's last batch trains: the checkpoint is at the
  epoch's end, but its eval has not run. The resumed run must run it, and end like an
  uninterrupted run (the last epoch of the run, the worst case: nothing follows it)."""
  config = tiny.config('finetune', epochs=2)
  whole_dir = str(tmp_path / 'whole')
  train_and_evaluate(config, whole_dir)

  workdir = str(tmp_path / 'resumed')
  with monkeypatch.context() as m:
    _interrupt_after(m, 9)  # batch 9 is the last of epoch 2 (5 steps an epoch)
    with pytest.raises(Interrupted):
      train_and_evaluate(config, workdir)
  resumed = train_and_evaluate(config, workdir)

  assert int(resumed.step) == 10
  a, b = _records(workdir), _records(whole_dir)
  assert [r['epoch'] for r in a] == [1, 2]
  assert [r['eval_top1'] for r in a] == [r['eval_top1'] for r in b]
  sa, sb = _summary(workdir), _summary(whole_dir)
  for key in ('epochs', 'final_eval_top1', 'best_eval_top1', 'best_epoch'):
    assert sa[key] == sb[key], key
