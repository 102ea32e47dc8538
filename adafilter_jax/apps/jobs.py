"""What a training config runs: the job table that main.py and the experiments grid
dispatch on.

Every method trains with the shared loop (`train`), which the applications end with the
test pass and the report; a method that trains in rounds of its own is run by its
system's runner instead (`RUNNERS`). The registry below knows no runner: the dispatch
lives here, on the floor that may import every system.
"""
from typing import Callable, List

from adafilter_jax.apps import report
from adafilter_jax.inference import evaluate
from adafilter_jax.systems import delta_attention
from adafilter_jax.systems.selective import run as selective_run
from adafilter_jax.train import loop


def run_report(workdir: str) -> List[str]:
  """The run's report (``workdir/report``) -> its figures, which the training loop adds
  to the run's TensorBoard events (and W&B run) as images."""
  markdown = report.write_run_report(workdir)
  return sorted(str(p) for p in markdown.parent.glob('*.png'))


def train(config, workdir: str):
  """The training loop, then (with ``config.data.val_fraction``) the test pass, then the
  run's report; returns the final host state."""
  return loop.train_and_evaluate(config, workdir, test_pass=evaluate.test_once,
                                 report=run_report)


def delta(config, workdir: str):
  """DELTA: its channel weights measured first (once, in the workdir), then `train`."""
  return train(delta_attention.prepare(config, workdir), workdir)


# Methods whose whole job is a runner of their own: method name -> (config, workdir) -> Any.
RUNNERS = {'selective_joint': selective_run.run, 'delta': delta}


def runner(method: str) -> Callable:
  """What trains `method`: its own runner, else `train`."""
  return RUNNERS.get(method, train)
