"""Evaluations plugged in by name (``config.evaluators``), as big_vision's evaluators:
each is a module here, ``adafilter_jax.train.evaluators.<name>``, whose `Evaluator(ctx)`
turns one pass's per-example outputs into the metrics of the record. The training loop
runs them after every epoch, ``evaluate``/``--mode=eval`` on a checkpoint
(inference/evaluate.py), the same ones.

An evaluator has `record(outputs, epoch) -> dict` (merged into the record of `epoch`,
1-based), and may have `start(evaluate)` (before the first step of a run's first start;
`evaluate(key)` runs a pass of the model as initialised) and `summary(last_record) ->
dict` (merged into summary.json, after the checkpoints' last write).
"""
import dataclasses
import importlib
import importlib.util
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import ml_collections
import numpy as np

from adafilter_jax.data import pipeline

DEFAULT = ('accuracy', 'gate_fraction', 'policy', 'test')


@dataclasses.dataclass(frozen=True)
class Context:
  """What the evaluators of one run (or one re-evaluation) read besides the outputs.

  Attributes:
    config: the run's config.
    num_classes: the target task's classes.
    gate_widths: gated layer -> its decisions per image, in forward order ({}: no gate).
    writer: the run directory's metrics.Writer (its files: gate_stats.npz, ...).
    workdir: the trained run's directory (where its initial policy is kept).
    test_pass: (config, workdir) -> the test metrics, run after training when the
      checkpoint is chosen on held-out images; None in a re-evaluation.
  """
  config: ml_collections.ConfigDict
  num_classes: int
  gate_widths: Dict[str, int]
  writer: Any
  workdir: str
  test_pass: Optional[Callable[[Any, str], dict]] = None

  @property
  def gate_layers(self) -> List[str]:
    return list(self.gate_widths)

  @property
  def gate_channels(self) -> List[int]:
    return list(self.gate_widths.values())


def names(config) -> Sequence[str]:
  return tuple(config.get('evaluators', DEFAULT))


def check(evaluator_names: Sequence[str]):
  """Each name is a module here, 'accuracy' among them (its eval_top1 chooses the best
  checkpoint); checked before anything compiles."""
  if 'accuracy' not in evaluator_names:
    raise ValueError(f'config.evaluators={tuple(evaluator_names)} lacks \'accuracy\', whose '
                     'eval_top1 chooses the best checkpoint: add it.')
  for name in evaluator_names:
    if not name.isidentifier() or importlib.util.find_spec(f'{__name__}.{name}') is None:
      raise ValueError(f'config.evaluators names {name!r}, which is no module of '
                       f'adafilter_jax/train/evaluators/; the default: {list(DEFAULT)}')


def load(evaluator_names: Sequence[str], ctx: Context) -> list:
  """`Evaluator(ctx)` of each named module, in order."""
  check(evaluator_names)
  return [importlib.import_module(f'{__name__}.{name}').Evaluator(ctx)
          for name in evaluator_names]


def run_pass(parallel, eval_fn, state, config, key) -> Dict[str, np.ndarray]:
  """One pass over `config`'s eval split -> per-example numpy outputs (padding removed);
  batch i draws with ``fold_in(key, i)``."""
  outs = []
  it = pipeline.make_eval_iter(config.data, global_batch_size=config.eval_batch_size)
  for i, batch in enumerate(it):
    key_i = jax.random.fold_in(key, i)
    outs.append(parallel.get_outputs(eval_fn(state, parallel.put_batch(batch), key_i)))
  outs = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
  keep = outs.pop('mask').astype(bool)
  return {k: v[keep] for k, v in outs.items()}


def record(evaluators: list, outputs, epoch: int) -> dict:
  out = {}
  for e in evaluators:
    out.update(e.record(outputs, epoch))
  return out


def start(evaluators: list, evaluate: Callable[[Any], dict]):
  for e in evaluators:
    if hasattr(e, 'start'):
      e.start(evaluate)


def summary(evaluators: list, last: dict) -> dict:
  out = {}
  for e in evaluators:
    if hasattr(e, 'summary'):
      out.update(e.summary(last))
  return out
