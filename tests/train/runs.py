"""What the loop tests share: a run's records, an interrupt at a chosen batch, and a guard
that nothing compiles before an error."""
import json
import os
import signal

from adafilter_jax.data import pipeline
from adafilter_jax.train import state as state_lib


def records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def without_wall_time(records_):
  return [{k: v for k, v in r.items() if k not in ('images_per_sec', 'epoch_time_s')}
          for r in records_]


def interrupt_after(monkeypatch, n):
  """The train iterator sends SIGTERM to this process after `n` batches."""
  make = pipeline.make_train_iter

  def make_and_interrupt(*args, **kwargs):
    for i, batch in enumerate(make(*args, **kwargs)):
      if i == n:
        signal.raise_signal(signal.SIGTERM)
      yield batch

  monkeypatch.setattr(pipeline, 'make_train_iter', make_and_interrupt)


def no_compile(monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError('compiled before the error')

  monkeypatch.setattr(state_lib, 'init_variables', fail)
