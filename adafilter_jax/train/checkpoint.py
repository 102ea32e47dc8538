"""Checkpoints with Orbax: one after every epoch, the latest and the best kept.

A checkpoint holds the train state (step, params, batch_stats, optimizer state) and a
small JSON record (`meta`: epochs evaluated, best so far, the run's identity). The step
says where the data order and the gate keys are; `meta['epoch']` says how many epochs
have been evaluated. They disagree in one case: an interrupt during an epoch's last
step saves the end of that epoch before its evaluation, and the resumed run evaluates
it. Checkpoints written on an interrupt carry no eval metrics: the latest-one policy
keeps them, the best-one policy ignores them.

A checkpoint that cannot be read (a half-written or damaged step directory) is moved
to `<directory>.unreadable/` with a warning, and the previous one is used: any saved
checkpoint is a consistent point to resume from.
"""
import contextlib
import os
import shutil
from typing import Any, Optional, Tuple

from absl import logging
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp

from adafilter_jax.models import adafilter as adafilter_models

METRIC = 'eval_top1'


def _rank(metrics: dict) -> float:
  """The best checkpoint is the first epoch with the best metric, as `meta['best_epoch']`
  counts it: on a tie the earlier step ranks higher (1e-15 a step is far below any
  accuracy's resolution, far above float64's)."""
  return metrics[METRIC] - 1e-15 * metrics.get('step', 0)


# Orbax's warning on a save without metrics, which an interrupt's save is by design
# (the module's docstring): on Ctrl-C it would read like a fault.
_NO_METRICS = 'Requested `tracked_metric`; did not provide metrics.'


@contextlib.contextmanager
def _without(message: Optional[str]):
  """Drops absl records whose message is `message` (None: drops nothing) while open."""
  def keep(record):
    return record.getMessage() != message
  logger = logging.get_absl_logger()
  logger.addFilter(keep)
  try:
    yield
  finally:
    logger.removeFilter(keep)


class Unreadable(RuntimeError):
  """No checkpoint of the directory could be read."""


class Checkpoints:

  def __init__(self, directory: str):
    self.directory = os.path.abspath(directory)
    registry = ocp.handlers.DefaultCheckpointHandlerRegistry()
    for args in (ocp.args.StandardSave, ocp.args.StandardRestore):
      registry.add('state', args, ocp.StandardCheckpointHandler)
    for args in (ocp.args.JsonSave, ocp.args.JsonRestore):
      registry.add('meta', args, ocp.JsonCheckpointHandler)
    self.manager = ocp.CheckpointManager(
        self.directory,
        handler_registry=registry,
        options=ocp.CheckpointManagerOptions(
            best_fn=_rank, best_mode='max',
            preservation_policy=pp.AnyPreservationPolicy([
                pp.LatestN(n=1),
                pp.BestN(get_metric_fn=_rank, n=1,
                         keep_checkpoints_without_metrics=False),
            ]),
            create=True))

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def best_step(self) -> Optional[int]:
    """The evaluated checkpoint with the best eval metric (evaluate, predict, export)."""
    return self.manager.best_step()

  def save(self, step: int, state, meta: dict, metrics: Optional[dict] = None):
    if step in self.manager.all_steps():
      # The end-of-epoch state an interrupt saved before its evaluation, now evaluated:
      # the same state, replaced with the meta (and metric) of an evaluated epoch.
      self.manager.wait_until_finished()
      self.manager.delete(step)
    if metrics is not None:
      metrics = {**metrics, 'step': step}
    with _without(_NO_METRICS if metrics is None else None):
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
          metrics=metrics, force=True)

  def restore(self, template, step: Optional[int] = None) -> Tuple[Any, dict]:
    """(state shaped like `template`, meta) of `step`, or of the newest readable one."""
    if step is not None:
      return self._read(step, template)
    return self._newest_readable(lambda step: self._read(step, template))

  def restore_meta(self, step: Optional[int] = None) -> dict:
    """The meta of `step`, or of the newest readable one (cheap: no arrays are read)."""
    if step is not None:
      return self._read(step, None, with_state=False)[1]
    return self._newest_readable(lambda step: self._read(step, None, with_state=False)[1])

  def _read(self, step: int, template, with_state: bool = True):
    """(state, meta) of `step`; a None `template` restores the state as saved. A run
    saved before AdaFilter became a transform is read in its old names, then mapped."""
    try:
      return self._read_as(step, template, with_state)
    except Exception as first:  # pylint: disable=broad-except
      old = adafilter_models.to_gated_resnet(template) if with_state else template
      if jax.tree.structure(old) == jax.tree.structure(template):
        raise
      try:
        state, meta = self._read_as(step, old, with_state)
      except Exception:  # pylint: disable=broad-except
        raise first from None  # not an old run: the first error is the one to report
      logging.info('checkpoint %d was saved before AdaFilter became a transform: F and '
                   'BN_ft read as conv_ft and bn_ft, renamed conv and bn', step)
      return adafilter_models.from_gated_resnet(state), meta

  def _read_as(self, step: int, template, with_state: bool):
    args = {'meta': ocp.args.JsonRestore()}
    if with_state:
      args['state'] = ocp.args.StandardRestore(template)
    out = self.manager.restore(step, args=ocp.args.Composite(**args))
    return out.get('state'), dict(out['meta'])

  def _newest_readable(self, read):
    skipped = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        return read(step)
      except Exception as e:  # pylint: disable=broad-except
        # Orbax raises whatever the storage layer raised (ValueError, FileNotFoundError,
        # KeyError, ...): any failure to read a step means the same thing here.
        skipped.append(f'{step} ({type(e).__name__}: {str(e)[:200]})')
        self._set_aside(step, e)
    raise Unreadable(f'no readable checkpoint in {self.directory}; skipped: '
                     f'{"; ".join(skipped)}. Move the workdir away to start afresh.')

  def _set_aside(self, step: int, error: Exception):
    source = os.path.join(self.directory, str(step))
    target = os.path.join(self.directory + '.unreadable', str(step))
    logging.warning('checkpoint %s is unreadable (%s: %s): skipped, moved to %s; '
                    'resuming from the one before it.', source, type(error).__name__,
                    str(error)[:200], target)
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.rmtree(target, ignore_errors=True)
      shutil.move(source, target)
    self.manager.reload()

  def close(self):
    """Waits for the last write; a second call does nothing."""
    if self.manager is not None:
      self.manager.wait_until_finished()
      self.manager.close()
      self.manager = None

  # An open manager's background threads outlive it; `with Checkpoints(d) as c:` closes.
  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
