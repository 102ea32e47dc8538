"""`config.profile_steps`: a `jax.profiler` trace of chosen train steps, in the workdir.

Each run of consecutive steps in `profile_steps` is one trace, written where TensorBoard
looks for it (``workdir/plugins/profile/<time>/``: open TensorBoard's Profile tab on
the workdir) with a ``perfetto_trace.json.gz`` beside it for https://ui.perfetto.dev.
Steps are the metrics' and checkpoints' (optimizer updates, from 1). The device work
before a trace is waited for, so the trace holds those steps only, and each step is
annotated with its number (`StepTraceAnnotation`) for the profiler's step view.
Waiting changes no number: training with and without a profile is the same (tested).
"""
import contextlib
from typing import Iterable

import jax

from adafilter_jax.train import actions


class Profiler(actions.Action):
  """`before(step)`, `annotate(step)` around the step's call, `after(step)`; `close()`."""

  def __init__(self, steps: Iterable[int], logdir: str):
    self.steps = frozenset(steps)
    self.logdir = logdir
    self.active = False

  def before(self, step: int, state):
    """`step`: the number of the update about to run; `state`: what it will read."""
    if step in self.steps and not self.active:
      jax.block_until_ready(state)  # earlier steps, still running, stay out of the trace
      jax.profiler.start_trace(self.logdir, create_perfetto_trace=True)
      self.active = True

  def annotate(self, step: int):
    if not self.active:
      return contextlib.nullcontext()
    return jax.profiler.StepTraceAnnotation('train', step_num=step)

  def after(self, step: int, outputs):
    """`step`: the number of the update just dispatched; `outputs`: what it returned."""
    if self.active and step + 1 not in self.steps:
      jax.block_until_ready(outputs)  # the trace must hold the step's device work
      self.close()

  def close(self):
    if self.active:
      jax.profiler.stop_trace()
      self.active = False
