"""`train_and_evaluate(config, workdir)`: the whole job, as `main.py` runs it.

The job is built once (job.py: the checks, the model, the state restored or
initialised, the method's preparation); then, per epoch, train (replaying the data order
up to a mid-epoch checkpoint, saving and stopping on SIGTERM/SIGINT), evaluate (the
config's evaluators, train/evaluators/) and checkpoint; after the last, the summary.

A method with stages (`methods.Stage`: LP-FT's probe, then fine-tuning) gets its
stage's train step and optimizer at each stage's first epoch (stages.py). A workdir
holding a checkpoint resumes from it: the state's step fixes the position in the data
order and the gate keys, `meta['epoch']` the epochs already evaluated, so an
interrupted run, killed at any moment, ends where an uninterrupted one would
(`python -m adafilter_jax.apps.faults` tests that).
"""
import contextlib
import functools
from typing import Any, Callable, List, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from adafilter_jax.data import pipeline
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import evaluators as evaluators_lib
from adafilter_jax.train import job as job_lib
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import optimizer as optimizer_lib
from adafilter_jax.train.signals import Interrupted, Signals


class NonFiniteLoss(FloatingPointError):
  pass


def _check_finite(loss: float, step: int, workdir: str):
  if not np.isfinite(loss):
    raise NonFiniteLoss(
        f'training loss is {loss} at step {step}: stopping. The last good checkpoint is '
        f'kept in {workdir}/checkpoints (lower config.optim.lr, or check the data).')


def _save(job: job_lib.Job, run: job_lib.Run, metrics: Optional[dict] = None):
  run.meta['wall_time_s'] = job.clock.total()
  job.ckpts.save(run.step, job.parallel.get_state(run.state), run.meta, metrics)


def _train_epoch(job: job_lib.Job, run: job_lib.Run, epoch: int, batches, signals,
                 progress) -> List[dict]:
  """Trains `epoch` from where `run.step` is in it; -> every step's metrics (host floats).

  On a signal, saves the state with the epoch's metrics so far, and raises Interrupted.
  """
  config, parallel, steps_per_epoch = job.config, job.parallel, job.steps_per_epoch
  # Steps of this epoch already trained: > 0 only when resuming inside it, and
  # steps_per_epoch when an interrupt in its last step left only its eval to do.
  done = run.step - epoch * steps_per_epoch  # `batches` starts after them
  progress.start_epoch(epoch + 1, config.num_epochs, steps_per_epoch, done)
  # Per step on the device: fetching them only at the end keeps the steps asynchronous.
  new = []  # this process's steps; run.meta['epoch_steps'] holds the earlier ones
  for i in range(done, steps_per_epoch):
    batch = parallel.put_batch(next(batches))
    job.actions.before(run.step + 1, run.state)
    with job.actions.annotate(run.step + 1):
      run.state, m = job.stages.train_fn(run.state, batch, job.train_key, run.anchor)
    run.step += 1
    job.actions.after(run.step, (run.state, m))
    signum = parallel.agreed_signal(signals.signum)  # every host stops after this step
    new.append(m)
    loss = None
    last = i == steps_per_epoch - 1
    if run.step % config.log_every_steps == 0 or signum is not None or last:
      loss = parallel.metrics(m)['loss']
      _check_finite(loss, run.step, job.workdir)
    progress.update(run.step, loss)
    if signum is not None:
      progress.end_epoch()
      run.meta['epoch_steps'] += parallel.metrics(new)
      _save(job, run)
      raise Interrupted(signum, run.step)
  return run.meta['epoch_steps'] + parallel.metrics(new)


def evaluate(job: job_lib.Job, state, key) -> dict:
  """One pass of `state` over the split that chooses the checkpoint."""
  return evaluators_lib.run_pass(job.parallel, job.eval_fn, state, job.select_config, key)


def _evaluate_and_record(job: job_lib.Job, run: job_lib.Run, epoch: int,
                         step_metrics: List[dict], images_per_sec: float) -> dict:
  """Evaluates, appends the epoch's record, then checkpoints (in that order: see
  `metrics.Writer._truncate`); -> the record."""
  outputs = evaluate(job, run.state, job.eval_key(epoch))
  evaluated = evaluators_lib.record(job.evaluators, outputs, epoch + 1)
  top1 = evaluated[checkpoint_lib.METRIC]
  meta = run.meta
  if top1 > meta['best_eval_top1']:
    meta['best_eval_top1'], meta['best_epoch'] = top1, epoch + 1
  meta['epoch'], meta['epoch_steps'] = epoch + 1, []
  train = {k: sum(m[k] for m in step_metrics) / len(step_metrics) for k in step_metrics[0]}
  record = {
      'epoch': epoch + 1, 'step': run.step, 'train_loss': train['loss'],
      'train_top1': train['top1'], **evaluated, 'eval_split': job.select_split,
      'lr': optimizer_lib.current_lrs(job.parallel.get_state(run.state).opt_state),
      'images_per_sec': images_per_sec, 'epoch_time_s': job.clock.epoch()}
  job.writer.epoch(record)
  _save(job, run, {checkpoint_lib.METRIC: top1})
  logging.info('epoch %d/%d: train loss %.4f top-1 %.4f | eval top-1 %.4f mean-class '
               '%.4f | %.1f img/s', epoch + 1, job.config.num_epochs, record['train_loss'],
               record['train_top1'], top1, record['eval_mean_class_acc'],
               images_per_sec)
  return record


def _run_epochs(job: job_lib.Job, run: job_lib.Run, signals: Signals):
  """Every epoch not yet evaluated: train it (or what is left of it), evaluate it."""
  config, steps_per_epoch = job.config, job.steps_per_epoch
  progress = metrics_lib.Progress(config.num_epochs * steps_per_epoch, config.batch_size,
                                  enabled=config.progress_bar)
  data_epoch = run.step // steps_per_epoch  # == meta['epoch'] + 1 when only an eval is pending
  batches = pipeline.make_train_iter(
      config.data, global_batch_size=config.batch_size, seed=config.seed,
      epoch_start=data_epoch, step_start=run.step - data_epoch * steps_per_epoch,
      num_epochs=max(config.num_epochs - data_epoch, 0))
  with contextlib.closing(job.actions):
    for epoch in range(run.meta['epoch'], config.num_epochs):
      job.stages.enter(run, epoch)
      job.clock.start_epoch()
      step_metrics = _train_epoch(job, run, epoch, batches, signals, progress)
      images_per_sec, _ = progress.end_epoch()
      _evaluate_and_record(job, run, epoch, step_metrics, images_per_sec)
      signum = job.parallel.agreed_signal(signals.signum)
      if signum is not None:  # arrived during the eval: the epoch is saved
        raise Interrupted(signum, run.step)


def _finish(job: job_lib.Job, run: job_lib.Run, report):
  """After the last epoch: the evaluators' summaries (the test pass), the summary, the
  report and its figures."""
  config = job.config
  last = (job.writer.records() or [{}])[-1]
  job.writer.summary({
      'method': config.method, 'dataset': config.data.name, 'config_name': config.name,
      'final_eval_top1': last.get('eval_top1'), 'best_eval_top1': run.meta['best_eval_top1'],
      'best_epoch': run.meta['best_epoch'],
      'final_eval_mean_class_acc': last.get('eval_mean_class_acc'),
      'epochs': run.meta['epoch'], 'num_params': job.num_params,
      'wall_time_s': job.clock.total(), 'eval_split': job.select_split,
      **evaluators_lib.summary(job.evaluators, last)})
  if report is not None and jax.process_index() == 0:
    try:
      job.writer.figures(report(job.workdir) or [], run.step)
    except Exception as e:  # pylint: disable=broad-except
      # The report is a view of the files above; a failure there loses nothing.
      logging.warning('report not written: %r', e)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       test_pass: Optional[Callable[[Any, str], dict]] = None,
                       report: Optional[Callable[[str], Optional[List[str]]]] = None):
  """Trains `config.method` on `config.data` in `workdir`; returns the final host state.

  What runs after training is the caller's (the applications pass both): `test_pass`
  (config, workdir) -> test metrics for the summary (the 'test' evaluator's), run once
  when the checkpoint was chosen on held-out images (``config.data.val_fraction``);
  `report` (workdir) -> the figures (PNG paths) it drew, a view of the run's files
  written last, whose failure loses nothing; the writer adds them to TensorBoard / W&B.
  """
  clock = job_lib.Clock()
  with job_lib.no_empty_folders_on_error(workdir), contextlib.ExitStack() as stack, \
      Signals() as signals:
    job, run = job_lib.start(config, workdir, stack, signals, clock, test_pass)
    if run.step == 0:  # the model as initialised, once (a resumed run's start is gone)
      evaluators_lib.start(job.evaluators, functools.partial(evaluate, job, run.state))
    signals.stop_if_any(job.parallel, run.step)
    _run_epochs(job, run, signals)
    job.ckpts.close()  # the checkpoints' last write is done: the test pass may read them
    _finish(job, run, report)
  return job.parallel.get_state(run.state)
