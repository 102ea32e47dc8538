"""What a training config runs: the job table that main.py and the experiments grid
dispatch on.

Every method trains with the shared loop (`train`), which the applications end with the
test pass and the report; a method that trains in rounds of its own is run by its
system's runner instead (`RUNNERS`). The registry below knows no runner: the dispatch
lives here, on the floor that may import every system.
"""
import json
import os
from typing import Callable, List

from adafilter_jax.apps import report
from adafilter_jax.inference import evaluate
from adafilter_jax.methods import delta as delta_method
from adafilter_jax.methods import selective_joint
from adafilter_jax.systems import delta_attention
from adafilter_jax.systems.selective import run as selective_run
from adafilter_jax.train import loop
from adafilter_jax.train import metrics


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


def final_summary(workdir: str) -> str:
  """What a finished run prints last: its accuracy, the best epoch, where its files are
  (summary.json as written: the loop's, or a runner's without `best_epoch`)."""
  path = os.path.join(workdir, metrics.SUMMARY)
  with open(path) as f:
    s = json.load(f)
  best = f'best {s["best_eval_top1"]:.2%}'
  if s.get('best_epoch'):
    best += f' at epoch {s["best_epoch"]}'
  lines = [f'{s["method"]} on {s["dataset"]}: eval top-1 {s["final_eval_top1"]:.2%} after '
           f'{s["epochs"]} epochs ({best})', f'summary: {path}']
  for report_md in (os.path.join(workdir, 'report', 'report.md'),  # the loop's
                    os.path.join(workdir, 'report.md')):  # selective joint's
    if os.path.isfile(report_md):
      lines.append(f'report: {report_md}')
  return '\n'.join(lines)


# Methods whose whole job is a runner of their own: method name -> (config, workdir) -> Any.
RUNNERS = {selective_joint.SELECTIVE_JOINT.name: selective_run.run, delta_method.DELTA.name: delta}


def runner(method: str) -> Callable:
  """What trains `method`: its own runner, else `train`."""
  return RUNNERS.get(method, train)
