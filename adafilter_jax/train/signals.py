"""Stopping a job on SIGTERM/SIGINT: the flag the loops check after every step, and the
exception that says the state was saved and the run can be resumed."""
import os
import signal
import threading

from absl import logging

from adafilter_jax.train import parallel as parallel_lib


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
