"""A training job as the loop runs it: `start` checks everything that needs no compiled
code, builds the model, restores the newest checkpoint (or initialises from the
pretrained weights) and builds the rest, once, into a frozen `Job`; `Run` is what
changes as it trains.

Everything that can be wrong with a run (unknown method, dataset not prepared, head size,
missing pretrained weights, batch vs devices, a workdir that cannot be written or holds
another run) fails before anything is compiled.
"""
import contextlib
import dataclasses
import functools
import os
import tempfile
import time
from typing import Any

from absl import logging
import ml_collections

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.data import validation
from adafilter_jax.train import actions as actions_lib
from adafilter_jax.train import cpu_warning as cpu_warning_lib
from adafilter_jax.train import checks
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import evaluators as evaluators_lib
from adafilter_jax.train import keys
from adafilter_jax.train import lock as lock_lib
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import prepare as prepare_lib
from adafilter_jax.train import profile as profile_lib
from adafilter_jax.train import stages as stages_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps as steps_lib

# The config fields that make a checkpoint this run's: resuming one of another dataset
# (or sample of it), model, batch (the step would mean another epoch) or seed would mix
# two runs silently.
IDENTITY = ('method', 'data.name', 'data.image_size', 'data.sample_rate', 'data.sample_seed',
            'model.arch', 'model.width', 'own_model.cls', 'batch_size', 'seed')


def num_classes_for(config, info) -> int:
  """The dataset's class count; `config.num_classes`, when set, must agree with it."""
  if config.num_classes is not None and config.num_classes != info.num_classes:
    raise ValueError(f'config.num_classes={config.num_classes} but {config.data.name} has '
                     f'{info.num_classes} classes: leave it unset or make them agree.')
  return info.num_classes


class Clock:
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


def _check_writable(workdir: str):
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=workdir):
      pass
  except OSError as e:
    raise OSError(f'workdir {workdir} cannot be written ({type(e).__name__}: {e}): '
                  'choose another --workdir.') from e


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
def no_empty_folders_on_error(workdir: str):
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


@dataclasses.dataclass
class Run:
  """What changes as the job runs: the device state and its host-side record."""
  state: Any
  anchor: Any  # the pretrained variables the method's loss reads, or None
  step: int
  meta: dict  # epochs evaluated, best so far, identity, the current epoch's step metrics


@dataclasses.dataclass(frozen=True)
class Job:
  """What every step of one job reads, built once by `start`."""
  config: ml_collections.ConfigDict
  workdir: str
  method: methods.Method
  parallel: parallel_lib.Parallel
  steps_per_epoch: int
  ckpts: checkpoint_lib.Checkpoints
  clock: Clock
  stages: stages_lib.Stages  # the method's stages; `.train_fn` the current one's step
  eval_fn: Any
  evaluators: list  # config.evaluators' (train/evaluators/)
  writer: metrics_lib.Writer
  actions: actions_lib.Action  # the profiler, the CPU warning (train/actions.py)
  train_key: Any
  eval_key: Any  # (epoch) -> the key of that evaluation
  # The split that chooses the checkpoint: the eval split (the paper's protocol), or the
  # images held out of the train split (config.data.val_fraction), the eval split then
  # evaluated once, at the end (the 'test' evaluator).
  select_config: ml_collections.ConfigDict
  select_split: str
  num_params: dict


def _checked(config, workdir: str, stack: contextlib.ExitStack):
  """Every check that needs no compiled code; the workdir's lock, once taken, is held
  until `stack` closes. -> (dataset info, identity, checkpoints, data record)."""
  info = checks.validate(config)  # method, batch vs devices, dataset, steps per epoch
  num_classes = num_classes_for(config, info)
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
  return info, identity, ckpts, data


def _restore_or_init(config, method, model, ckpts, steps_per_epoch: int, identity: dict,
                     data: dict, workdir: str) -> Run:
  """The newest readable checkpoint, or the pretrained backbone with a new head/gate."""
  size = config.data.image_size
  resume = ckpts.latest_step() is not None
  needs_anchor = method.needs_pretrained_params
  pretrained_vars = (state_lib.load_pretrained(config)
                     if not resume or needs_anchor else None)
  if resume:
    template = state_lib.state_template(method, model, config, steps_per_epoch)
    state, meta = ckpts.restore(template)
    _check_identity(meta, identity, workdir)  # a fallback checkpoint too
    logging.info('Resuming from step %d (%d epochs evaluated) in %s.', state.step,
                 meta['epoch'], workdir)
    anchor = (state_lib.init_variables(model, config, size, pretrained_vars)
              if needs_anchor else None)
  else:
    variables = state_lib.init_variables(model, config, size, pretrained_vars)
    state = state_lib.create_state(method, model, variables, config, steps_per_epoch)
    anchor = variables if needs_anchor else None
    meta = {'epoch': 0, 'best_eval_top1': -1.0, 'best_epoch': 0, 'wall_time_s': 0.0,
            **identity}
  meta.setdefault('epoch_steps', [])
  meta.setdefault('data', data)  # a run from before it was recorded: from now on
  return Run(state, anchor, int(state.step), meta)


def start(config, workdir: str, stack: contextlib.ExitStack, signals, clock: Clock,
          test_pass=None):
  """-> (Job, Run): the checks, the model, the state restored or initialised, the
  method's preparation (`Method.prepare`), then the job built once. Stops between the
  compiles on a signal, with nothing to save. `test_pass`: the 'test' evaluator's."""
  workdir = os.path.abspath(workdir)
  info, identity, ckpts, data = _checked(config, workdir, stack)
  # Closed whatever happens: an open orbax manager's threads outlive a failed run.
  stack.callback(ckpts.close)
  method = methods.get(config.method)
  schedule = method.schedule(config)  # its stages, checked before anything compiles
  parallel = parallel_lib.Parallel(config.parallel)
  num_classes = identity['num_classes']
  steps_per_epoch = pipeline.steps_per_epoch(info.num_train, config.batch_size)
  signals.stop_if_any(parallel, ckpts.latest_step() or 0)
  model = method.build_model(config, num_classes, parallel.bn_axis_name)
  run = _restore_or_init(config, method, model, ckpts, steps_per_epoch, identity, data,
                         workdir)
  clock.before = run.meta['wall_time_s']
  signals.stop_if_any(parallel, run.step)
  constants = prepare_lib.constants(method, config, workdir, num_classes, parallel, model,
                                    run.state, run.step)
  signals.stop_if_any(parallel, run.step)
  num_params = state_lib.count_params(method, run.state.params, config)
  logging.info('%s on %s: %d classes, %d steps/epoch, params %s, %d devices (%s).',
               config.method, config.data.name, num_classes, steps_per_epoch, num_params,
               parallel.num_devices, config.parallel)
  size = config.data.image_size
  widths = steps_lib.gate_widths(
      model, {'params': run.state.params, 'batch_stats': run.state.batch_stats},
      (1, size, size, 3))
  writer = metrics_lib.Writer(workdir, resume_epoch=run.meta['epoch'], config=config)
  stack.callback(writer.close)  # flushes the events, finishes a W&B run
  writer.config(config)
  select_config, select_split = pipeline.config_for_split(
      config, validation.HELDOUT if config.data.val_fraction else None)
  ctx = evaluators_lib.Context(config, num_classes, widths, writer, workdir, test_pass)
  run.state, run.anchor = parallel.put_state(run.state), parallel.put_state(run.anchor)
  job = Job(
      config=config, workdir=workdir, method=method, parallel=parallel,
      steps_per_epoch=steps_per_epoch, ckpts=ckpts, clock=clock,
      stages=stages_lib.Stages(method, config, parallel, schedule, steps_per_epoch,
                               constants),
      eval_fn=parallel.eval_step(steps_lib.make_eval_step(config, parallel.bn_axis_name)),
      evaluators=evaluators_lib.load(evaluators_lib.names(config), ctx), writer=writer,
      actions=actions_lib.Actions([
          profile_lib.Profiler(config.profile_steps, workdir),
          cpu_warning_lib.CpuWarning(config, config.num_epochs * steps_per_epoch)]),
      train_key=keys.train(config.seed),
      eval_key=functools.partial(keys.evaluation, config.seed),
      select_config=select_config, select_split=select_split, num_params=num_params)
  return job, run
