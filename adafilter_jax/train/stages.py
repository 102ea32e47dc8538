"""A method's stages (`Method.stages`: LP-FT's probe, then fine-tuning) as the loop
meets them: at each stage's first epoch, its train step and a fresh optimizer."""
from typing import Callable, Optional

from absl import logging

from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps as steps_lib


class Stages:
  """`enter(run, epoch)` before training `epoch`; `train_fn` the step of its stage."""

  def __init__(self, method, config, parallel, schedule, steps_per_epoch: int,
               constants: dict):
    self.method, self.config, self.parallel = method, config, parallel
    self.schedule = schedule  # method.schedule(config): [(first epoch, methods.Stage)]
    self.steps_per_epoch, self.constants = steps_per_epoch, constants
    self.index: Optional[int] = None
    self.train_fn: Optional[Callable] = None

  def enter(self, run, epoch: int):
    """Compiles nothing yet: the train step of the stage `epoch` is in; a stage after the
    first starts with its own optimizer, fresh at its first step (also when a run
    resumes there), as restored when the run resumes inside it."""
    index = max(i for i, (first, _) in enumerate(self.schedule) if first <= epoch)
    if index == self.index:
      return
    first, stage = self.schedule[index]
    if index > 0:
      fresh = run.step == first * self.steps_per_epoch
      host = state_lib.enter_stage(self.parallel.get_state(run.state), self.method,
                                   self.config, stage, self.steps_per_epoch, fresh)
      run.state = self.parallel.put_state(host)
      logging.info('Stage %d of %s from epoch %d (%s).', index, self.config.method, first + 1,
                   'fresh optimizer' if fresh else 'resumed')
    self.train_fn = self.parallel.train_step(steps_lib.make_train_step(
        self.method, self.config, self.parallel.bn_axis_name, stage, self.constants),
        parallel_lib.compiler_options(self.config))
    self.index = index
