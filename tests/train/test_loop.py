"""train_and_evaluate end to end on the offline digits data: output files, resume after
an interrupt equals an uninterrupted run, clear errors before compiling, NaN stops."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.train import checkpoint
from adafilter_jax.train.loop import Interrupted
from adafilter_jax.train.loop import NonFiniteLoss
from adafilter_jax.train.loop import train_and_evaluate
from adafilter_jax.train import state as state_lib
from tests.train import runs
from tests import tiny_config


def _decisions_by_own_forward_pass(config, variables):
  """Per layer, [N, C] decisions over the eval split in eval-index order, and the labels,
  from a forward pass of the model written here (not the eval step), normalising in numpy."""
  model = methods.get(config.method).build_model(config, 5, None)
  mean, std = np.asarray(config.data.mean) * 255, np.asarray(config.data.std) * 255
  forward = jax.jit(lambda v, x: model.apply(v, x, train=False,
                                             rngs={'gate': jax.random.key(0)})[1])
  decisions, index, labels = {}, [], []
  for batch in pipeline.make_eval_iter(config.data, global_batch_size=config.eval_batch_size):
    keep = batch['mask'].astype(bool)
    x = ((batch['image'][keep].astype(np.float64) - mean) / std).astype(np.float32)
    for layer, g in forward(variables, x).items():
      decisions.setdefault(layer, []).append(np.asarray(g) > 0.5)
    index.append(batch['index'][keep])
    labels.append(batch['label'][keep])
  order = np.argsort(np.concatenate(index))
  return ({layer: np.concatenate(d)[order] for layer, d in decisions.items()},
          np.concatenate(labels)[order])


def _gate_fractions_by_own_forward_pass(config, state):
  """Per layer, the fraction of fine-tuned filters over the eval split."""
  decisions, _ = _decisions_by_own_forward_pass(
      config, {'params': state.params, 'batch_stats': state.batch_stats})
  return {layer: float(d.mean()) for layer, d in decisions.items()}


def test_adafilter_epoch_writes_all_outputs(tmp_path):
  workdir = str(tmp_path / 'run')
  config = tiny_config.config('adafilter')
  state = train_and_evaluate(config, workdir)
  (record,) = runs.records(workdir)
  assert record['epoch'] == 1 and record['step'] == 5  # 50 images, batch 10
  for key in ('train_loss', 'train_top1', 'eval_top1', 'eval_mean_class_acc',
              'images_per_sec', 'epoch_time_s'):
    assert np.isfinite(record[key]), key
  assert list(record['gate_fraction']) == ['layer4_0/conv1', 'layer4_0/conv2',
                                           'layer4_0/downsample']
  expected = _gate_fractions_by_own_forward_pass(config, state)
  assert set(expected) == set(record['gate_fraction'])
  for layer, fraction in expected.items():
    assert abs(record['gate_fraction'][layer] - fraction) < 1e-6, layer
  # Not all 0 or all 1 in every layer, or the comparison above would prove little.
  assert 0.0 < np.mean(list(expected.values())) < 1.0, expected
  assert set(record['lr']) == {'network', 'head', 'gate'}
  stats = np.load(os.path.join(workdir, 'gate_stats.npz'))
  n = 846
  assert stats['per_image_layer_fraction'].shape == (n, 3)
  assert stats['per_image_fraction'].shape == stats['index'].shape == stats['pred'].shape == (n,)
  assert sorted(stats['index']) == list(range(n))
  np.testing.assert_allclose(stats['layer_fraction'], [expected[l] for l in stats['layers']],
                             atol=1e-6)
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  assert summary['method'] == 'adafilter' and summary['epochs'] == 1
  assert summary['final_eval_top1'] == summary['best_eval_top1'] == record['eval_top1']
  assert summary['num_params']['frozen'] > 0 and summary['num_params']['gate'] > 0
  _check_policy(config, state, record, summary, workdir)


def _check_policy(config, state, record, summary, workdir):
  """The policy diagnostics, recomputed from decisions of the model's own forward pass
  with the final and with the initial variables (the seed's, before any step)."""
  from adafilter_jax.train import policy  # pylint: disable=g-import-not-at-top
  final, labels = _decisions_by_own_forward_pass(
      config, {'params': state.params, 'batch_stats': state.batch_stats})
  model = methods.get(config.method).build_model(config, 5, None)
  start, _ = _decisions_by_own_forward_pass(
      config, state_lib.init_variables(model, config, config.data.image_size, None))
  layers = list(final)
  want = policy.diagnose(layers, [final[l] for l in layers], labels, 5,
                         [start[l] for l in layers])
  pairs = [(record['policy']['layers'][l], want['layers'][l], l) for l in layers]
  for got, expected, where in pairs + [(record['policy']['all'], want['all'], 'all')]:
    for key in policy.KEYS:
      assert got[key] == pytest.approx(expected[key], abs=1e-9), (where, key)
  # training moved some decisions, and the initial gate's own diagnostics are kept
  assert 0 < record['policy']['all']['changed'] < 1
  assert summary['policy'] == record['policy']
  assert summary['policy_init']['all']['changed'] == 0.0
  assert summary['policy_reference']['all']['changed'] == 0.5
  stats = np.load(os.path.join(workdir, 'gate_stats.npz'))
  share = np.concatenate([final[l].mean(0) for l in stats['layers']])
  np.testing.assert_allclose(stats['filter_share'], share, atol=1e-12)


def test_initial_policy_is_kept_across_a_resume(tmp_path, monkeypatch):
  """Interrupted before its first evaluation, the run resumes with the initial gate's
  decisions it evaluated before the first step (not those of the trained gate)."""
  workdir = str(tmp_path / 'run')
  config = tiny_config.config('adafilter')
  with monkeypatch.context() as m:
    runs.interrupt_after(m, 2)
    with pytest.raises(Interrupted):
      train_and_evaluate(config, workdir)
  kept = np.load(os.path.join(workdir, 'policy_init.npz'))
  assert sorted(kept['index']) == list(range(846))
  state = train_and_evaluate(config, workdir)
  (record,) = runs.records(workdir)
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  _check_policy(config, state, record, summary, workdir)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  """(workdir, final state) of the uninterrupted 2-epoch fine-tuning run of `overrides`,
  trained once for all the tests here that end an interrupted run equal to it."""
  done = {}

  def run(**overrides):
    key = json.dumps(overrides, sort_keys=True)
    if key not in done:
      workdir = str(tmp_path_factory.mktemp('whole') / 'run')
      config = tiny_config.config('finetune', epochs=2, **overrides)
      done[key] = workdir, train_and_evaluate(config, workdir)
    return done[key]

  return run


@pytest.mark.parametrize('overrides', [
    {},
    # The step counts optimizer updates, whatever the micro-batches: resume is as exact.
    {'grad_accum_steps': 2, 'model.remat': True}])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch, uninterrupted,
                                                     overrides):
  config = tiny_config.config('finetune', epochs=2, **overrides)
  whole_dir, whole = uninterrupted(**overrides)

  workdir = str(tmp_path / 'resumed')
  with monkeypatch.context() as m:
    runs.interrupt_after(m, 7)  # mid-epoch 2
    with pytest.raises(Interrupted):
      train_and_evaluate(config, workdir)
  with checkpoint.Checkpoints(os.path.join(workdir, 'checkpoints')) as ckpts:
    assert ckpts.latest_step() == 8
  resumed = train_and_evaluate(config, workdir)

  assert int(resumed.step) == int(whole.step) == 10
  jax.tree.map(np.testing.assert_array_equal, resumed.params, whole.params)
  jax.tree.map(np.testing.assert_array_equal, resumed.batch_stats, whole.batch_stats)
  jax.tree.map(np.testing.assert_array_equal, resumed.opt_state, whole.opt_state)
  a, b = runs.records(workdir), runs.records(whole_dir)
  assert [r['epoch'] for r in a] == [1, 2]
  # Every field but wall time: the interrupted epoch's train loss too, averaged over
  # the steps before the interrupt (kept in the checkpoint) and after.
  assert runs.without_wall_time(a) == runs.without_wall_time(b)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  workdir = str(tmp_path / 'run')
  train_and_evaluate(tiny_config.config('finetune', epochs=1), workdir)
  make = pipeline.make_train_iter

  def poisoned(*args, **kwargs):
    for batch in make(*args, **kwargs):
      yield dict(batch, image=np.full(batch['image'].shape, np.nan, np.float32))

  monkeypatch.setattr(pipeline, 'make_train_iter', poisoned)
  with pytest.raises(NonFiniteLoss, match='last good checkpoint'):
    train_and_evaluate(tiny_config.config('finetune', epochs=2), workdir)
  with checkpoint.Checkpoints(os.path.join(workdir, 'checkpoints')) as ckpts:
    assert ckpts.latest_step() == 5
  assert [r['epoch'] for r in runs.records(workdir)] == [1]


@pytest.mark.parametrize('overrides, error, match', [
    ({'method': 'nope'}, ValueError, 'unknown method'),
    ({'num_classes': 7}, ValueError, 'num_classes=7'),
    ({'pretrained': '/nonexistent/resnet50'}, FileNotFoundError, 'adafilter_jax.weights.convert'),
    ({'parallel': 'pjit'}, ValueError, 'config.parallel'),
    ({'grad_accum_steps': 3}, ValueError, r'batch_size=10 does not split into '
                                          r'config.grad_accum_steps=3'),
    ({'grad_accum_steps': 0}, ValueError, r'grad_accum_steps=0: must be an integer >= 1'),
    ({'profile_steps': (0, 1)}, ValueError, r'profile_steps=\(0, 1\): must be train steps '
                                            r'counted from 1'),
    ({'evaluators': ('accuracy', 'acuracy')}, ValueError,
     "config.evaluators names 'acuracy', which is no module"),
])
def test_clear_errors_before_compiling(tmp_path, monkeypatch, overrides, error, match):
  def no_compile(*args, **kwargs):
    raise AssertionError('compiled before the error')

  monkeypatch.setattr(state_lib, 'init_variables', no_compile)
  config = tiny_config.config()
  config.update(overrides)
  with pytest.raises(error, match=match):
    train_and_evaluate(config, str(tmp_path / 'run'))


def _summary(workdir):
  with open(os.path.join(workdir, 'summary.json')) as f:
    return json.load(f)


def test_interrupt_in_the_last_step_of_an_epoch_still_evaluates_it(tmp_path, monkeypatch,
                                                                   uninterrupted):
  """The signal arrives while the epoch's last batch trains: the checkpoint is at the
  epoch's end, but its eval has not run. The resumed run must run it, and end like an
  uninterrupted run (the last epoch of the run, the worst case: nothing follows it)."""
  config = tiny_config.config('finetune', epochs=2)
  whole_dir, _ = uninterrupted()

  workdir = str(tmp_path / 'resumed')
  with monkeypatch.context() as m:
    runs.interrupt_after(m, 9)  # batch 9 is the last of epoch 2 (5 steps an epoch)
    with pytest.raises(Interrupted):
      train_and_evaluate(config, workdir)
  resumed = train_and_evaluate(config, workdir)

  assert int(resumed.step) == 10
  a, b = runs.records(workdir), runs.records(whole_dir)
  assert [r['epoch'] for r in a] == [1, 2]
  assert runs.without_wall_time(a) == runs.without_wall_time(b)
  sa, sb = _summary(workdir), _summary(whole_dir)
  for key in ('epochs', 'final_eval_top1', 'best_eval_top1', 'best_epoch'):
    assert sa[key] == sb[key], key


def test_unwritable_workdir_fails_before_compiling(tmp_path, monkeypatch):
  runs.no_compile(monkeypatch)
  (tmp_path / 'a_file').write_text('')
  workdir = str(tmp_path / 'a_file' / 'run')  # root may write anywhere: a file blocks it
  with pytest.raises(OSError, match=f'workdir {workdir} cannot be written'):
    train_and_evaluate(tiny_config.config(), workdir)


def test_workdir_of_another_run_is_refused_naming_the_key(tmp_path, monkeypatch):
  workdir = tmp_path / 'run'
  config = tiny_config.config()
  other = {'epoch': 1, 'method': config.method, 'num_classes': 5, 'data.name': 'digits_source',
           'model.arch': config.model.arch}
  ckpts = checkpoint.Checkpoints(str(workdir / 'checkpoints'))
  ckpts.save(5, {'x': np.zeros(2, np.float32)}, other)
  ckpts.close()
  runs.no_compile(monkeypatch)
  with pytest.raises(ValueError, match="data.name='digits_source', this run has "
                                       "'digits_target'"):
    train_and_evaluate(config, str(workdir))


# A first job on the workdir, stopped in its first batch (as a run is while it trains).
_FIRST_JOB = r"""
import sys, time
from adafilter_jax.data import pipeline
from adafilter_jax.train import loop
from tests import tiny_config

def stalled(*args, **kwargs):
  print('training', flush=True)
  time.sleep(300)
  yield

pipeline.make_train_iter = stalled
loop.train_and_evaluate(tiny_config.config(), sys.argv[1])
"""


def test_workdir_in_use_is_refused_until_its_job_is_killed(tmp_path, monkeypatch):
  """A second job on a workdir whose first job still trains stops in one line, before it
  reads or writes anything there; once the first is SIGKILLed (no clean-up of its own),
  the workdir is free again."""
  workdir = str(tmp_path / 'run')
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  first = subprocess.Popen([sys.executable, '-c', _FIRST_JOB, workdir], cwd=root,
                           stdout=subprocess.PIPE, text=True)
  try:
    assert first.stdout.readline().strip() == 'training'
    before = sorted(os.listdir(workdir))
    runs.no_compile(monkeypatch)
    with pytest.raises(OSError) as e:
      train_and_evaluate(tiny_config.config(), workdir)
    assert str(e.value) == (f'workdir {workdir} is in use by another job (process '
                            f'{first.pid}): wait for it to end, or choose another --workdir.')
    assert sorted(os.listdir(workdir)) == before
  finally:
    first.kill()
    first.wait()
  with pytest.raises(AssertionError, match='compiled before the error'):  # past the lock
    train_and_evaluate(tiny_config.config(), workdir)


def test_a_run_whose_dataset_was_prepared_again_says_so(tmp_path, caplog):
  """A finished run's image folder gets more test images and is prepared again: rerunning
  the training command stops in one line saying how the data changed and what to do (it
  used to print 'Resuming' and keep the old split's summary); evaluating the run again
  says it evaluates the data as it is now."""
  from adafilter_jax.data import prepare
  from adafilter_jax.inference import evaluate
  from tests.data import data_fakes
  manual = data_fakes.image_folder(str(tmp_path / 'images'), per_class=6,
                                   splits=['train', 'test'])
  data_dir = str(tmp_path / 'tfds')
  prepare.prepare('image_folder/mine', data_dir=data_dir, manual_dir=manual)
  config = tiny_config.config(**{'data.name': 'image_folder/mine', 'data.data_dir': data_dir})
  workdir = str(tmp_path / 'run')
  train_and_evaluate(config, workdir)
  data_fakes.write_image(os.path.join(manual, 'test', 'cat', 'more.png'), fmt='PNG')
  prepare.prepare('image_folder/mine', data_dir=data_dir)
  pipeline._builder.cache_clear()  # a new process
  with pytest.raises(ValueError) as e:
    train_and_evaluate(config, workdir)
  assert str(e.value) == (
      f'{workdir} was trained on image_folder/mine as it was prepared then; it has been '
      'prepared again since (test 12 -> 13 images): its checkpoints and scores belong to '
      'the data it had. Use a new --workdir to train on the data as it is now.')
  record = evaluate.evaluate_workdir(workdir)
  assert record['num_images'] == 13
  assert ('image_folder/mine has been prepared again since this run trained (test 12 -> 13 '
          "images): evaluating the data as it is now, not the data of the run's "
          'summary.json.') in caplog.text


# Orbax's failed read of the truncated file leaves tensorstore reads in flight, which later
# call back into the restore's closed event loop: a warning of the deliberate damage.
@pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning')
def test_unreadable_latest_checkpoint_falls_back_to_the_previous(tmp_path, monkeypatch, caplog,
                                                                 uninterrupted):
  config = tiny_config.config('finetune', epochs=2)
  _, whole = uninterrupted()
  workdir = tmp_path / 'resumed'
  with monkeypatch.context() as m:
    runs.interrupt_after(m, 7)  # saves step 8; step 5 (epoch 1, the best so far) stays
    with pytest.raises(Interrupted):
      train_and_evaluate(config, str(workdir))
  # Half-written: the largest array file of the latest step cut in two.
  files = [p for p in (workdir / 'checkpoints' / '8' / 'state').rglob('*') if p.is_file()]
  biggest = max(files, key=lambda p: p.stat().st_size)
  os.truncate(biggest, biggest.stat().st_size // 2)

  with caplog.at_level('WARNING'):
    resumed = train_and_evaluate(config, str(workdir))
  warned = [r.getMessage() for r in caplog.records if 'is unreadable' in r.getMessage()]
  assert warned and str(workdir / 'checkpoints' / '8') in warned[0], warned
  assert (workdir / 'checkpoints.unreadable' / '8').is_dir()
  jax.tree.map(np.testing.assert_array_equal, resumed.params, whole.params)
  assert [r['epoch'] for r in runs.records(str(workdir))] == [1, 2]
