"""Periodic actions: what runs around the train steps beside training itself (the
profiler's traces, profile.py; the CPU-backend warning, cpu_warning.py). Each is called
around every step; `Actions` runs the config's in order."""
import contextlib
from typing import Sequence


class Action:
  """`before(step, state)` the step numbered `step` (from 1) reads `state`; `annotate(step)`
  wraps its call; `after(step, outputs)` it returned `outputs`; `close()` at the end."""

  def before(self, step: int, state):
    del step, state

  def annotate(self, step: int):
    del step
    return contextlib.nullcontext()

  def after(self, step: int, outputs):
    del step, outputs

  def close(self):
    pass


class Actions(Action):
  """Several actions as one, called in order (closed in reverse)."""

  def __init__(self, actions: Sequence[Action]):
    self.actions = list(actions)

  def before(self, step, state):
    for a in self.actions:
      a.before(step, state)

  def annotate(self, step):
    stack = contextlib.ExitStack()
    for a in self.actions:
      stack.enter_context(a.annotate(step))
    return stack

  def after(self, step, outputs):
    for a in self.actions:
      a.after(step, outputs)

  def close(self):
    for a in reversed(self.actions):
      a.close()
