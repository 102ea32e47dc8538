"""Checkpoints with Orbax: one after every epoch, the latest and the best kept.

A checkpoint holds the train state (step, params, batch_stats, optimizer state) and a
small JSON record (epoch, best so far, the head size). The step alone says where the
run was, so a resumed run replays the exact data order and gate keys from there on.
Checkpoints written on an interrupt are mid-epoch and carry no eval metrics: the
latest-one policy keeps them, the best-one policy ignores them.
"""
import os
from typing import Any, Optional, Tuple

import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp

METRIC = 'eval_top1'


class Checkpoints:

  def __init__(self, directory: str):
    directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        directory,
        item_names=('state', 'meta'),
        options=ocp.CheckpointManagerOptions(
            best_fn=lambda m: m[METRIC], best_mode='max',
            preservation_policy=pp.AnyPreservationPolicy([
                pp.LatestN(n=1),
                pp.BestN(get_metric_fn=lambda m: m[METRIC], n=1,
                         keep_checkpoints_without_metrics=False),
            ]),
            create=True))

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def best_step(self) -> Optional[int]:
    return self.manager.best_step()

  def save(self, step: int, state, meta: dict, metrics: Optional[dict] = None):
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        metrics=metrics, force=True)

  def restore(self, template, step: Optional[int] = None) -> Tuple[Any, dict]:
    """The state at `step` (the latest by default), shaped like `template`."""
    step = self.latest_step() if step is None else step
    out = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()))
    return out['state'], dict(out['meta'])

  def restore_meta(self, step: Optional[int] = None) -> dict:
    step = self.latest_step() if step is None else step
    out = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    return dict(out['meta'])

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()
