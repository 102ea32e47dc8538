"""`train_and_evaluate(config, workdir)`: the whole job, as `main.py` runs it.

Three steps: restore or initialise the state, then per epoch train (replaying the
data order up to a mid-epoch checkpoint, saving and stopping on SIGTERM/SIGINT),
evaluate and record. Everything that can be wrong with a run (unknown method, dataset
not prepared, head size, missing pretrained weights, batch vs devices, a workdir that
cannot be written or holds another run) fails before anything is compiled.

A method with stages (`methods.Stage`: LP-FT's probe, then fine-tuning) gets its
stage's train step and optimizer at each stage's first epoch, a fresh optimizer there.
A workdir holding a checkpoint resumes from it: the state's step fixes the position in
the data order and the gate keys, `meta['epoch']` the epochs already evaluated, so an
interrupted run, killed at any moment, ends where an uninterrupted one would
(`python -m adafilter_jax.apps.faults` tests that).
"""
import contextlib
import dataclasses
import functools
import os
import signal
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.data import validation
from adafilter_jax.models import transform
from adafilter_jax.train import backend as backend_lib
from adafilter_jax.train import checks
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import lock as lock_lib
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import optimizer as optimizer_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import profile as profile_lib
from adafilter_jax.train import policy as policy_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps as steps_lib

# The config fields that make a checkpoint this run's: resuming one of another dataset
# (or sample of it), model, batch (the step would mean another epoch) or seed would mix
# two runs silently.
IDENTITY = ('method', 'data.name', 'data.image_size', 'data.sample_rate', 'data.sample_seed',
            'model.arch', 'model.width', 'own_model.cls', 'batch_size', 'seed')


PLAN = 'adafilter_plan.json'  # AdaFilter's plan of a user's own model (_save_plan)

# A method's constants (Method.constants), computed once per workdir.
CONSTANTS = 'method_constants.npz'


class Interrupted(Exception):
  """SIGTERM/SIGINT arrived; the state was saved (or nothing was trained since the last
  checkpoint: `saved` False) and the run can be resumed."""

  def __init__(self, signum: int, step: int, saved: bool = True):
    name = signal.Signals(signum).name
    super().__init__(
        f'{name} at step {step}: checkpoint saved; run the same command again to resume.'
        if saved else f'{name} before step {step + 1}: nothing trained, nothing to save; '
        f'run the same command again to {"resume" if step else "start"}.')
    self.signum, self.step = signum, step


class NonFiniteLoss(FloatingPointError):
  pass


def num_classes_for(config, info) -> int:
  """The dataset's class count; `config.num_classes`, when set, must agree with it."""
  if config.num_classes is not None and config.num_classes != info.num_classes:
    raise ValueError(f'config.num_classes={config.num_classes} but {config.data.name} has '
                     f'{info.num_classes} classes: leave it unset or make them agree.')
  return info.num_classes


class Signals:
  """Turns SIGTERM/SIGINT into a flag the loop checks after every step (and after each
  compile before the first). Installed before anything compiles: XLA's compiler polls
  for Python's pending signals, and a KeyboardInterrupt raised out of it abandons the
  compile while its threads run on, and the interpreter's exit then segfaults."""

  def __init__(self):
    self.signum = None
    self._old = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for s in (signal.SIGTERM, signal.SIGINT):
        self._old[s] = signal.signal(s, self._handle)
    return self

  def _handle(self, signum, frame):
    if self.signum is not None:  # a second Ctrl-C: stop now, without saving
      # As a kill would (the checkpoints survive one); a KeyboardInterrupt here could be
      # raised out of a compile (above).
      logging.warning('second %s: exiting now, without saving.', signal.Signals(signum).name)
      os._exit(128 + signum)  # pylint: disable=protected-access
    logging.warning('%s: stopping after the step (or the compile) in progress, saving '
                    'what was trained.', signal.Signals(signum).name)
    self.signum = signum

  def stop_if_any(self, parallel: parallel_lib.Parallel, step: int):
    """Between compiles, before training: stops, with nothing to save (every host)."""
    signum = parallel.agreed_signal(self.signum)
    if signum is not None:
      raise Interrupted(signum, step, saved=False)

  def __exit__(self, *exc):
    for s, old in self._old.items():
      signal.signal(s, old)


class _Clock:
  """All wall-time bookkeeping: the run's total over its resumes, and the epoch's."""

  def __init__(self):
    self.start = self.epoch_start = time.time()
    self.before = 0.0  # seconds spent by the processes this one resumes

  def total(self) -> float:
    return self.before + time.time() - self.start

  def start_epoch(self):
    self.epoch_start = time.time()

  def epoch(self) -> float:
    return time.time() - self.epoch_start


@dataclasses.dataclass
class _Job:
  """What every step of one job reads: checked and derived before anything compiles."""
  config: ml_collections.ConfigDict
  workdir: str
  method: methods.Method
  parallel: parallel_lib.Parallel
  num_classes: int
  steps_per_epoch: int
  ckpts: checkpoint_lib.Checkpoints
  identity: dict
  clock: _Clock
  data: dict = dataclasses.field(default_factory=dict)  # pipeline.prepared_record
  # Set once the model is built:
  train_fn: Optional[Callable] = None
  eval_fn: Optional[Callable] = None
  # Gated layer -> its decisions per image, in forward order ({} for a plain model).
  gate_widths: Dict[str, int] = dataclasses.field(default_factory=dict)
  # The gate as initialised, on the eval images (policy.from_outputs's `initial`): every
  # evaluation says how many decisions training changed. None for a plain model, or a
  # run resumed from before it was kept.
  initial_policy: Optional[dict] = None
  writer: Optional[metrics_lib.Writer] = None
  profiler: Optional[profile_lib.Profiler] = None
  train_key: Any = None
  eval_key: Any = None
  cpu_warning: Optional[backend_lib.CpuWarning] = None
  # The split that chooses the checkpoint: the eval split (the paper's protocol), or the
  # images held out of the train split (config.data.val_fraction), the eval split then
  # evaluated once, at the end.
  select_config: Optional[ml_collections.ConfigDict] = None
  select_split: Optional[str] = None
  # The method's stages, [(first epoch, methods.Stage)], and the one train_fn runs.
  schedule: List[Any] = dataclasses.field(default_factory=list)
  stage: Optional[int] = None
  constants: dict = dataclasses.field(default_factory=dict)  # the method's (Method.constants)

  @property
  def gate_layers(self) -> List[str]:
    return list(self.gate_widths)

  @property
  def gate_channels(self) -> List[int]:
    return list(self.gate_widths.values())


@dataclasses.dataclass
class _Run:
  """What changes as the job runs: the device state and its host-side record."""
  state: Any
  anchor: Any  # the pretrained variables the method's losses read, or None
  step: int
  meta: dict  # epochs evaluated, best so far, identity, the current epoch's step metrics


def _check_writable(workdir: str):
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=workdir):
      pass
  except OSError as e:
    raise OSError(f'workdir {workdir} cannot be written ({type(e).__name__}: {e}): '
                  'choose another --workdir.') from e


def _save_plan(model, workdir: str):
  """AdaFilter's plan of a user's own model (models/transform.py: its convs, their norms,
  which are gated), as JSON in the workdir: what config.own_model.plan may name."""
  if getattr(model, 'plan', None) is not None and jax.process_index() == 0:
    with open(os.path.join(workdir, PLAN), 'w') as f:
      f.write(transform.plan_json(model.plan))


def _check_identity(saved: dict, identity: dict, workdir: str):
  for key, value in identity.items():
    if key in saved and saved[key] != value:  # older checkpoints lack some keys
      raise ValueError(f'{workdir} holds a checkpoint with {key}={saved[key]!r}, this '
                       f'run has {value!r}: use another --workdir.')


def _check_data(saved: dict, data: dict, name: str, workdir: str):
  """The dataset prepared again since the run trained (more images, other classes): its
  steps per epoch, data order and scores belong to the old data, so it is not resumed."""
  change = pipeline.data_change(saved.get('data'), data)
  if change:
    raise ValueError(f'{workdir} was trained on {name} as it was prepared then; it has been '
                     f'prepared again since ({change}): its checkpoints and scores belong to '
                     'the data it had. Use a new --workdir to train on the data as it is now.')


@contextlib.contextmanager
def _no_empty_folders_on_error(workdir: str):
  """A run that fails before it writes anything (the Hub unreachable, weights missing)
  leaves no empty workdir or checkpoints/ behind; only folders it made, only empty."""
  workdir = os.path.abspath(workdir)
  made = [d for d in (workdir, os.path.join(workdir, 'checkpoints')) if not os.path.exists(d)]
  try:
    yield
  except BaseException:
    for d in reversed(made):
      with contextlib.suppress(OSError):  # not empty: it holds what the run wrote
        if os.listdir(d) == [lock_lib.LOCK]:  # the run's own lock, released by now
          os.remove(os.path.join(d, lock_lib.LOCK))
        os.rmdir(d)
    raise


@contextlib.contextmanager
def _closed_on_error(ckpts: checkpoint_lib.Checkpoints):
  try:
    yield
  except BaseException:
    ckpts.close()
    raise


def check_workdir(workdir: str, identity: dict):
  """`workdir` holding a run of another identity (`IDENTITY`: method, dataset, model, ...)
  stops the job naming the key; a workdir without checkpoints is anyone's."""
  directory = os.path.join(workdir, 'checkpoints')
  if os.path.isdir(directory):
    with checkpoint_lib.Checkpoints(directory) as ckpts:
      if ckpts.latest_step() is not None:
        _check_identity(ckpts.restore_meta(), identity, workdir)


def _prepare(config, workdir: str, clock: _Clock, stack: contextlib.ExitStack) -> _Job:
  """Every check that needs no compiled code; fails with a message naming the problem.
  The workdir's lock, once taken, is held until `stack` closes."""
  workdir = os.path.abspath(workdir)
  info = checks.validate(config)  # method, batch vs devices, dataset, steps per epoch
  method = methods.get(config.method)
  parallel = parallel_lib.Parallel(config.parallel)
  num_classes = num_classes_for(config, info)
  steps_per_epoch = pipeline.steps_per_epoch(info.num_train, config.batch_size)
  _check_writable(workdir)
  stack.enter_context(lock_lib.locked(workdir))  # before its checkpoints are read
  identity = {key: functools.reduce(getattr, key.split('.'), config) for key in IDENTITY}
  identity['num_classes'] = num_classes
  ckpts = checkpoint_lib.Checkpoints(os.path.join(workdir, 'checkpoints'))
  data = pipeline.prepared_record(config.data)
  if ckpts.latest_step() is not None:
    with _closed_on_error(ckpts):
      saved = ckpts.restore_meta()
      _check_identity(saved, identity, workdir)
      _check_data(saved, data, config.data.name, workdir)
  return _Job(config, workdir, method, parallel, num_classes, steps_per_epoch, ckpts,
              identity, clock, data, schedule=method.schedule(config))


def _restore_or_init(job: _Job, model) -> _Run:
  """The newest readable checkpoint, or the pretrained backbone with a new head/gate."""
  config, method = job.config, job.method
  size = config.data.image_size
  resume = job.ckpts.latest_step() is not None
  needs_anchor = method.needs_pretrained_params
  pretrained_vars = (state_lib.load_pretrained(config)
                     if not resume or needs_anchor else None)
  if resume:
    template = state_lib.state_template(method, model, config, job.steps_per_epoch)
    state, meta = job.ckpts.restore(template)
    _check_identity(meta, job.identity, job.workdir)  # a fallback checkpoint too
    logging.info('Resuming from step %d (%d epochs evaluated) in %s.', state.step,
                 meta['epoch'], job.workdir)
    anchor = (state_lib.init_variables(model, config, size, pretrained_vars)
              if needs_anchor else None)
  else:
    variables = state_lib.init_variables(model, config, size, pretrained_vars)
    state = state_lib.create_state(method, model, variables, config, job.steps_per_epoch)
    anchor = variables if needs_anchor else None
    meta = {'epoch': 0, 'best_eval_top1': -1.0, 'best_epoch': 0, 'wall_time_s': 0.0,
            **job.identity}
  meta.setdefault('epoch_steps', [])
  meta.setdefault('data', job.data)  # a run from before it was recorded: from now on
  job.clock.before = meta['wall_time_s']
  return _Run(state, anchor, int(state.step), meta)


def _train_outputs(job: _Job, model, variables) -> Callable:
  """`Method.constants`' view of the training images: names -> an iterator of the
  model's sown intermediates `names` and the labels, batch by batch (eval mode, the
  evaluation transform, `variables`)."""
  config, parallel = job.config, job.parallel
  placed = parallel.put_state(variables)

  def train_outputs(names):
    step = parallel.eval_step(steps_lib.make_outputs_step(model, config, tuple(names),
                                                          parallel.bn_axis_name))
    key = jax.random.fold_in(jax.random.key(config.seed), 3)
    for batch in pipeline.make_eval_iter(config.data, global_batch_size=config.eval_batch_size,
                                         split=pipeline.splits(config.data)[0]):
      out = parallel.get_outputs(step(placed, parallel.put_batch(batch), key))
      keep = out['mask'].astype(bool)
      yield {n: v[keep] for n, v in out['outputs'].items()}, out['label'][keep]

  return train_outputs


def _method_constants(job: _Job, run: _Run, model) -> dict:
  """The method's constants, read from the workdir, or computed from the starting model
  and written there before the first step: a resumed run uses what the first one did."""
  config, method = job.config, job.method
  if method.constants is None:
    return {}
  path = os.path.join(job.workdir, CONSTANTS)
  if os.path.exists(path):
    with np.load(path) as f:
      return dict(f)
  if run.step == 0:
    start = {'params': run.state.params, 'batch_stats': run.state.batch_stats}
  else:  # resumed, the file lost: the starting model again
    start = state_lib.init_variables(model, config, config.data.image_size,
                                     state_lib.load_pretrained(config))
  constants = {k: np.asarray(v) for k, v in
               method.constants(config, job.num_classes, _train_outputs(job, model, start)).items()}
  if jax.process_index() == 0:
    tmp = path + '.tmp.npz'
    np.savez(tmp, **constants)
    os.replace(tmp, path)
  return constants


def _check_finite(loss: float, step: int, workdir: str):
  if not np.isfinite(loss):
    raise NonFiniteLoss(
        f'training loss is {loss} at step {step}: stopping. The last good checkpoint is '
        f'kept in {workdir}/checkpoints (lower config.optim.lr, or check the data).')


def _save(job: _Job, run: _Run, metrics: Optional[dict] = None):
  run.meta['wall_time_s'] = job.clock.total()
  job.ckpts.save(run.step, job.parallel.get_state(run.state), run.meta, metrics)


def _train_epoch(job: _Job, run: _Run, epoch: int, batches, signals, progress) -> List[dict]:
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
    job.profiler.before(run.step + 1, run.state)
    with job.profiler.annotate(run.step + 1):
      run.state, m = job.train_fn(run.state, batch, job.train_key, run.anchor)
    run.step += 1
    job.profiler.after(run.step, (run.state, m))
    signum = parallel.agreed_signal(signals.signum)  # every host stops after this step
    new.append(m)
    loss = None
    last = i == steps_per_epoch - 1
    if run.step % config.log_every_steps == 0 or signum is not None or last:
      loss = parallel.metrics(m)['loss']
      _check_finite(loss, run.step, job.workdir)
    progress.update(run.step, loss)
    job.cpu_warning.step(run.step, run.state)
    if signum is not None:
      progress.end_epoch()
      run.meta['epoch_steps'] += parallel.metrics(new)
      _save(job, run)
      raise Interrupted(signum, run.step)
  return run.meta['epoch_steps'] + parallel.metrics(new)


def evaluate(parallel, eval_fn, state, config, key):
  """One pass over the eval split -> per-example numpy outputs (padding removed)."""
  outs = []
  it = pipeline.make_eval_iter(config.data, global_batch_size=config.eval_batch_size)
  for i, batch in enumerate(it):
    key_i = jax.random.fold_in(key, i)
    outs.append(parallel.get_outputs(eval_fn(state, parallel.put_batch(batch), key_i)))
  outs = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
  keep = outs.pop('mask').astype(bool)
  return {k: v[keep] for k, v in outs.items()}


def _evaluate_and_record(job: _Job, run: _Run, epoch: int, step_metrics: List[dict],
                         images_per_sec: float) -> dict:
  """Evaluates, appends the epoch's record, then checkpoints (in that order: see
  `metrics.Writer._truncate`); -> the record."""
  outputs = evaluate(job.parallel, job.eval_fn, run.state, job.select_config,
                     jax.random.fold_in(job.eval_key, epoch))
  top1, mean_class = metrics_lib.accuracies(outputs['pred'], outputs['label'], job.num_classes)
  gate_fraction = metrics_lib.gate_fraction(outputs, job.gate_layers)
  meta = run.meta
  if top1 > meta['best_eval_top1']:
    meta['best_eval_top1'], meta['best_epoch'] = top1, epoch + 1
  meta['epoch'], meta['epoch_steps'] = epoch + 1, []
  train = {k: sum(m[k] for m in step_metrics) / len(step_metrics) for k in step_metrics[0]}
  record = {
      'epoch': epoch + 1, 'step': run.step, 'train_loss': train['loss'],
      'train_top1': train['top1'], 'eval_top1': top1, 'eval_mean_class_acc': mean_class,
      'eval_split': job.select_split,
      'gate_fraction': gate_fraction,
      'gate_fraction_per_stage': metrics_lib.stage_fraction(gate_fraction, job.gate_widths),
      **_policy_record(job, outputs),
      'lr': optimizer_lib.current_lrs(job.parallel.get_state(run.state).opt_state),
      'images_per_sec': images_per_sec, 'epoch_time_s': job.clock.epoch()}
  job.writer.epoch(record)
  job.writer.gate_stats(outputs, job.gate_layers, epoch + 1, job.gate_channels)
  _save(job, run, {checkpoint_lib.METRIC: top1})
  logging.info('epoch %d/%d: train loss %.4f top-1 %.4f | eval top-1 %.4f mean-class '
               '%.4f | %.1f img/s', epoch + 1, job.config.num_epochs, record['train_loss'],
               record['train_top1'], top1, mean_class, images_per_sec)
  return record


def _policy_record(job: _Job, outputs) -> dict:
  """{'policy': train/policy.py's diagnostics} for a gated model, else {}."""
  if not job.gate_layers:
    return {}
  initial = job.initial_policy
  return {'policy': policy_lib.from_outputs(outputs, job.gate_layers, job.gate_channels,
                                            job.num_classes, initial and initial['outputs'])}


def _initial_policy(job: _Job, run: _Run) -> Optional[dict]:
  """The initial gate's eval-set decisions and their diagnostics: evaluated once, before
  the first step, and kept in the workdir (metrics.POLICY_INIT) for the resumed runs."""
  if not job.gate_layers:
    return None
  saved = job.writer.initial_policy()
  if saved is not None or run.step > 0:  # trained already: its start is gone if not saved
    return saved
  outputs = evaluate(job.parallel, job.eval_fn, run.state, job.select_config,
                     jax.random.fold_in(job.eval_key, 2 ** 31 - 1))  # not an epoch's key
  outputs = {k: outputs[k] for k in ('decisions', 'index', 'label')}
  diagnostics = policy_lib.from_outputs(outputs, job.gate_layers, job.gate_channels,
                                        job.num_classes, outputs)
  job.writer.save_initial_policy(outputs, diagnostics)
  return {'outputs': outputs, 'diagnostics': diagnostics}


def _policy_summary(job: _Job, last: dict) -> dict:
  """The last evaluation's policy diagnostics, the initial gate's, and the random
  policy's expected values on the same shapes (policy.bernoulli_reference)."""
  if 'policy' not in last:
    return {}
  initial = job.initial_policy
  if initial is None:
    return {'policy': last['policy']}
  labels = initial['outputs']['label']
  return {'policy': last['policy'], 'policy_init': initial['diagnostics'],
          'policy_reference': policy_lib.bernoulli_reference(
              job.gate_layers, job.gate_channels, len(labels), len(np.unique(labels)),
              job.config.adafilter.random_p)}


def _enter_stage(job: _Job, run: _Run, epoch: int):
  """Compiles nothing yet: the train step of the stage `epoch` is in; a stage after the
  first starts with its own optimizer, fresh at its first step (also when a run resumes
  there), as restored when the run resumes inside it."""
  index = max(i for i, (first, _) in enumerate(job.schedule) if first <= epoch)
  if index == job.stage:
    return
  first, stage = job.schedule[index]
  if index > 0:
    fresh = run.step == first * job.steps_per_epoch
    host = state_lib.enter_stage(job.parallel.get_state(run.state), job.method, job.config,
                                 stage, job.steps_per_epoch, fresh)
    run.state = job.parallel.put_state(host)
    logging.info('Stage %d of %s from epoch %d (%s).', index, job.config.method, first + 1,
                 'fresh optimizer' if fresh else 'resumed')
  job.train_fn = job.parallel.train_step(steps_lib.make_train_step(
      job.method, job.config, job.parallel.bn_axis_name, stage, job.constants))
  job.stage = index


def _run_epochs(job: _Job, run: _Run, signals: Signals):
  """Every epoch not yet evaluated: train it (or what is left of it), evaluate it."""
  config, steps_per_epoch = job.config, job.steps_per_epoch
  progress = metrics_lib.Progress(config.num_epochs * steps_per_epoch, config.batch_size,
                                  enabled=config.progress_bar)
  data_epoch = run.step // steps_per_epoch  # == meta['epoch'] + 1 when only an eval is pending
  batches = pipeline.make_train_iter(
      config.data, global_batch_size=config.batch_size, seed=config.seed,
      epoch_start=data_epoch, step_start=run.step - data_epoch * steps_per_epoch,
      num_epochs=max(config.num_epochs - data_epoch, 0))
  with contextlib.closing(job.profiler):
    for epoch in range(run.meta['epoch'], config.num_epochs):
      _enter_stage(job, run, epoch)
      job.clock.start_epoch()
      step_metrics = _train_epoch(job, run, epoch, batches, signals, progress)
      images_per_sec, _ = progress.end_epoch()
      _evaluate_and_record(job, run, epoch, step_metrics, images_per_sec)
      signum = job.parallel.agreed_signal(signals.signum)
      if signum is not None:  # arrived during the eval: the epoch is saved
        raise Interrupted(signum, run.step)


def _build(job: _Job, run: _Run, model):
  """Compiles nothing yet: wraps the steps, finds the gated layers, opens the files."""
  config, parallel = job.config, job.parallel
  size = config.data.image_size
  job.gate_widths = steps_lib.gate_widths(
      model, {'params': run.state.params, 'batch_stats': run.state.batch_stats},
      (1, size, size, 3))
  job.eval_fn = parallel.eval_step(steps_lib.make_eval_step(config, parallel.bn_axis_name))
  key = jax.random.key(config.seed)
  job.train_key, job.eval_key = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)
  job.writer = metrics_lib.Writer(job.workdir, resume_epoch=run.meta['epoch'], config=config)
  job.profiler = profile_lib.Profiler(config.profile_steps, job.workdir)
  job.cpu_warning = backend_lib.CpuWarning(config, config.num_epochs * job.steps_per_epoch)
  job.select_config, job.select_split = pipeline.config_for_split(
      config, validation.HELDOUT if config.data.val_fraction else None)
  job.writer.config(config)
  run.state, run.anchor = parallel.put_state(run.state), parallel.put_state(run.anchor)


def _finish(job: _Job, run: _Run, num_params: dict, test_pass, report):
  """After the last epoch: the test pass, the summary, the report and its figures."""
  config, clock = job.config, job.clock
  test = test_pass(config, job.workdir) if test_pass and config.data.val_fraction else {}
  last = (job.writer.records() or [{}])[-1]
  job.writer.summary({
      'method': config.method, 'dataset': config.data.name, 'config_name': config.name,
      'final_eval_top1': last.get('eval_top1'), 'best_eval_top1': run.meta['best_eval_top1'],
      'best_epoch': run.meta['best_epoch'],
      'final_eval_mean_class_acc': last.get('eval_mean_class_acc'),
      'epochs': run.meta['epoch'], 'num_params': num_params, 'wall_time_s': clock.total(),
      'eval_split': job.select_split, **test, **_policy_summary(job, last)})
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
  (config, workdir) -> test metrics for the summary, run once when the checkpoint was
  chosen on held-out images (``config.data.val_fraction``); `report` (workdir) -> the
  figures (PNG paths) it drew, a view of the run's files written last, whose failure
  loses nothing; the writer adds the figures to TensorBoard / W&B as images.
  """
  clock = _Clock()
  with _no_empty_folders_on_error(workdir), contextlib.ExitStack() as stack, \
      Signals() as signals:
    job = _prepare(config, workdir, clock, stack)
    # Closed whatever happens: an open orbax manager's threads outlive a failed run.
    with contextlib.closing(job.ckpts):
      signals.stop_if_any(job.parallel, job.ckpts.latest_step() or 0)
      model = job.method.build_model(config, job.num_classes, job.parallel.bn_axis_name)
      _save_plan(model, workdir)
      run = _restore_or_init(job, model)
      signals.stop_if_any(job.parallel, run.step)
      job.constants = _method_constants(job, run, model)
      signals.stop_if_any(job.parallel, run.step)
      num_params = state_lib.count_params(job.method, run.state.params, config)
      logging.info('%s on %s: %d classes, %d steps/epoch, params %s, %d devices (%s).',
                   config.method, config.data.name, job.num_classes, job.steps_per_epoch,
                   num_params, job.parallel.num_devices, config.parallel)
      _build(job, run, model)
      stack.callback(job.writer.close)  # flushes the events, finishes a W&B run
      job.initial_policy = _initial_policy(job, run)
      signals.stop_if_any(job.parallel, run.step)
      _run_epochs(job, run, signals)
    # The checkpoints' last write is done: the test pass may read them.
    _finish(job, run, num_params, test_pass, report)
  return job.parallel.get_state(run.state)
