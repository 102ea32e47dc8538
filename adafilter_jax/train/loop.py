"""`train_and_evaluate(config, workdir)`: the whole job, as `main.py` runs it.

Everything that can be wrong with a run (unknown method, dataset not prepared, head
size, missing pretrained weights, batch vs devices, a workdir of another run) fails
here before anything is compiled. A workdir holding a checkpoint resumes from it: the
state's step fixes the epoch, the position in the epoch's data order and the gate
keys, so an interrupted run ends where an uninterrupted one would.
"""
import os
import signal
import threading
import time

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import optimizer as optimizer_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps as steps_lib


class Interrupted(Exception):
  """SIGTERM/SIGINT arrived; the state was saved and the run can be resumed."""

  def __init__(self, signum: int, step: int):
    super().__init__(f'{signal.Signals(signum).name} at step {step}: checkpoint saved; '
                     'run the same command again to resume.')
    self.signum, self.step = signum, step


class NonFiniteLoss(FloatingPointError):
  pass


def num_classes_for(config, info) -> int:
  """The dataset's class count; `config.num_classes`, when set, must agree with it."""
  if config.num_classes is not None and config.num_classes != info.num_classes:
    raise ValueError(f'config.num_classes={config.num_classes} but {config.data.name} has '
                     f'{info.num_classes} classes: leave it unset or make them agree.')
  return info.num_classes


class _Signals:
  """Turns SIGTERM/SIGINT into a flag the loop checks after every step."""

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
      raise KeyboardInterrupt
    logging.warning('%s: saving a checkpoint after this step, then exiting.',
                    signal.Signals(signum).name)
    self.signum = signum

  def __exit__(self, *exc):
    for s, old in self._old.items():
      signal.signal(s, old)


def _check_finite(loss: float, step: int, workdir: str):
  if not np.isfinite(loss):
    raise NonFiniteLoss(
        f'training loss is {loss} at step {step}: stopping. The last good checkpoint is '
        f'kept in {workdir}/checkpoints (lower config.optim.lr, or check the data).')


def evaluate(par, eval_fn, state, config, key):
  """One pass over the eval split -> per-example numpy outputs (padding removed)."""
  outs = []
  it = pipeline.make_eval_iter(config.data, global_batch_size=config.eval_batch_size)
  for i, batch in enumerate(it):
    outs.append(par.get_outputs(eval_fn(state, par.put_batch(batch), jax.random.fold_in(key, i))))
  outs = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
  keep = outs.pop('mask').astype(bool)
  return {k: v[keep] for k, v in outs.items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
  """Trains `config.method` on `config.data` in `workdir`; returns the final host state."""
  t_start = time.time()
  workdir = os.path.abspath(workdir)
  # -- everything that can fail does so here, before compiling
  method = methods.get(config.method)
  par = parallel_lib.Parallel(config.parallel)
  par.check_batch(config.batch_size)
  par.check_batch(config.eval_batch_size, 'config.eval_batch_size')
  info = pipeline.load_dataset_info(config.data)
  num_classes = num_classes_for(config, info)
  spe = pipeline.steps_per_epoch(info.num_train, config.batch_size)
  if spe == 0:
    raise ValueError(f'{info.num_train} training images < config.batch_size={config.batch_size}.')
  ckpts = checkpoint_lib.Checkpoints(os.path.join(workdir, 'checkpoints'))
  resume = ckpts.latest_step() is not None
  meta = {'epoch': 0, 'best_eval_top1': -1.0, 'best_epoch': 0, 'wall_time_s': 0.0,
          'method': config.method, 'num_classes': num_classes}
  if resume:
    saved = ckpts.restore_meta()
    for key in ('method', 'num_classes'):
      if saved.get(key) != meta[key]:
        raise ValueError(f'{workdir} holds a checkpoint with {key}={saved.get(key)!r}, this '
                         f'run has {meta[key]!r}: use another --workdir.')
  pretrained_vars = (state_lib.load_pretrained(config)
                     if not resume or method.regularizer else None)
  model = method.build_model(config, num_classes, par.bn_axis_name)

  # -- state: fresh (pretrained backbone + new head/gate) or restored
  size = config.data.image_size
  if resume:
    abstract = jax.eval_shape(
        lambda: state_lib.create_state(method, model, state_lib.abstract_variables(model, size),
                                       config, spe))
    template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), abstract)
    state, meta = ckpts.restore(template)
    logging.info('Resuming from step %d (epoch %d) in %s.', state.step, meta['epoch'], workdir)
    anchor = (state_lib.init_variables(model, config, size, pretrained_vars)['params']
              if method.regularizer else None)
  else:
    variables = state_lib.init_variables(model, config, size, pretrained_vars)
    state = state_lib.create_state(method, model, variables, config, spe)
    anchor = variables['params'] if method.regularizer else None
  del pretrained_vars
  layers = steps_lib.gate_layers(model, {'params': state.params,
                                         'batch_stats': state.batch_stats},
                                 (1, size, size, 3))
  num_params = state_lib.count_params(method, state.params)
  logging.info('%s on %s: %d classes, %d steps/epoch, params %s, %d devices (%s).',
               config.method, config.data.name, num_classes, spe, num_params,
               par.num_devices, config.parallel)

  train_fn = par.train_step(steps_lib.make_train_step(method, config, par.bn_axis_name))
  eval_fn = par.eval_step(steps_lib.make_eval_step(config, par.bn_axis_name))
  step = int(state.step)
  state, anchor = par.put_state(state), par.put_state(anchor)
  key = jax.random.key(config.seed)
  train_key, eval_key = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)

  writer = metrics_lib.Writer(workdir, resume_epoch=meta['epoch'])
  writer.config(config)
  progress = metrics_lib.Progress(config.num_epochs * spe, config.batch_size,
                                  enabled=config.progress_bar)
  start_epoch = step // spe
  train_iter = pipeline.make_train_iter(
      config.data, global_batch_size=config.batch_size, seed=config.seed,
      epoch_start=start_epoch, step_start=step - start_epoch * spe,  # mid-epoch: from there
      num_epochs=max(config.num_epochs - start_epoch, 0))
  record = None
  try:
    with _Signals() as signals:
      for epoch in range(start_epoch, config.num_epochs):
        t_epoch = time.time()
        first = step - epoch * spe  # > 0 only in the epoch a mid-epoch checkpoint was in
        progress.start_epoch(epoch + 1, config.num_epochs, spe, first)
        sums, n = None, 0
        for i in range(first, spe):
          state, m = train_fn(state, par.put_batch(next(train_iter)), train_key, anchor)
          step += 1
          signum = par.agreed_signal(signals.signum)  # every host stops after this step
          sums = m if sums is None else jax.tree.map(jnp.add, sums, m)
          n += 1
          loss = None
          if step % config.log_every_steps == 0 or signum is not None or i == spe - 1:
            loss = par.metrics(m)['loss']
            _check_finite(loss, step, workdir)
          progress.update(step, loss)
          if signum is not None:
            progress.end_epoch()
            meta['wall_time_s'] += time.time() - t_start
            ckpts.save(step, par.get_state(state), meta)
            raise Interrupted(signum, step)
        images_per_sec, _ = progress.end_epoch()
        train = {k: v / n for k, v in par.metrics(sums).items()}

        outputs = evaluate(par, eval_fn, state, config, jax.random.fold_in(eval_key, epoch))
        top1, mean_class = metrics_lib.accuracies(outputs['pred'], outputs['label'], num_classes)
        if top1 > meta['best_eval_top1']:
          meta['best_eval_top1'], meta['best_epoch'] = top1, epoch + 1
        meta['epoch'] = epoch + 1
        meta['wall_time_s'] += time.time() - t_start
        t_start = time.time()
        host_state = par.get_state(state)
        ckpts.save(step, host_state, meta, {'eval_top1': top1})
        record = {
            'epoch': epoch + 1, 'step': step, 'train_loss': train['loss'],
            'train_top1': train['top1'], 'eval_top1': top1, 'eval_mean_class_acc': mean_class,
            'gate_fraction': metrics_lib.gate_fraction(outputs, layers),
            'lr': optimizer_lib.current_lrs(host_state.opt_state),
            'images_per_sec': images_per_sec, 'epoch_time_s': time.time() - t_epoch}
        writer.epoch(record)
        writer.gate_stats(outputs, layers, epoch + 1)
        logging.info('epoch %d/%d: train loss %.4f top-1 %.4f | eval top-1 %.4f mean-class '
                     '%.4f | %.1f img/s', epoch + 1, config.num_epochs, record['train_loss'],
                     record['train_top1'], top1, mean_class, images_per_sec)
  finally:
    ckpts.close()

  meta['wall_time_s'] += time.time() - t_start
  last = record or (writer.records() or [{}])[-1]
  writer.summary({
      'method': config.method, 'dataset': config.data.name, 'config_name': config.name,
      'final_eval_top1': last.get('eval_top1'), 'best_eval_top1': meta['best_eval_top1'],
      'best_epoch': meta['best_epoch'], 'final_eval_mean_class_acc': last.get('eval_mean_class_acc'),
      'epochs': meta['epoch'], 'num_params': num_params, 'wall_time_s': meta['wall_time_s']})
  _write_report(workdir)
  return par.get_state(state)


def _write_report(workdir: str):
  if jax.process_index() != 0:
    return
  try:
    from adafilter_jax import report  # pylint: disable=g-import-not-at-top
    report.write_report([workdir], os.path.join(workdir, 'report'))
  except Exception as e:  # pylint: disable=broad-except
    # The report is a view of the files above; a failure there loses nothing.
    logging.warning('report not written: %r', e)
