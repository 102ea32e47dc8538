"""Reading a run directory, and the gate statistics shared with the trainer (no plotting here)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ImageLoader = Callable[[int], np.ndarray]


@dataclasses.dataclass
class Run:
  name: str
  path: Path
  metrics: list[dict]
  summary: dict
  gates: dict | None  # gate_stats.npz contents; None for plain models

  @property
  def label(self) -> str:
    """The run's name, and its method where the name does not say it already."""
    method = self.summary.get('method')
    return self.name if not method or method in self.name else f'{self.name} ({method})'



def load_run(workdir: str | Path, name: str | None = None) -> Run:
  path = Path(workdir)
  mfile = path / 'metrics.jsonl'
  if not mfile.is_file():
    raise FileNotFoundError(f'{mfile}: no metrics.jsonl; is {path} a run directory?')
  lines = [l for l in mfile.read_text().splitlines() if l.strip()]
  metrics = []
  for i, line in enumerate(lines):
    try:
      metrics.append(json.loads(line))
    except json.JSONDecodeError:
      if i < len(lines) - 1:  # a torn last line is a run still writing; anything else is corrupt
        raise ValueError(f'{mfile}:{i + 1}: not JSON')
  summary = {}
  if (path / 'config.json').is_file():  # names for a run that has no summary.json yet
    cfg = json.loads((path / 'config.json').read_text())
    summary = {'method': cfg.get('method'), 'dataset': (cfg.get('data') or {}).get('name')}
    summary = {k: v for k, v in summary.items() if isinstance(v, str)}
  if (path / 'summary.json').is_file():
    summary.update(json.loads((path / 'summary.json').read_text()))
  gates = None
  if (path / 'gate_stats.npz').is_file():
    with np.load(path / 'gate_stats.npz') as z:
      gates = {k: z[k] for k in z.files}
    gates['layers'] = [str(s) for s in gates['layers']]
  return Run(name or path.resolve().name, path, metrics, summary, gates)


def find_runs(path: str | Path) -> list[Path]:
  """`path` if it is a run directory, else the run directories below it (sorted; a run's
  own subdirectories, such as its eval/ re-evaluations, are not searched)."""
  path = Path(path)
  if not path.is_dir():
    raise FileNotFoundError(f'{path}: no such directory')
  found = _runs_below(path)
  if not found:
    raise FileNotFoundError(f'{path / "metrics.jsonl"}: no metrics.jsonl in {path} or below; '
                            f'is {path} a run directory?')
  return found


def _runs_below(path: Path) -> list[Path]:
  if (path / 'metrics.jsonl').is_file():
    return [path]
  return [run for sub in sorted(p for p in path.iterdir() if p.is_dir())
          for run in _runs_below(sub)]


def acc_scale(runs: Sequence[Run]) -> float:
  # The trainer logs accuracies as fractions; tolerate percent so an old run still plots sanely.
  vals = [m['eval_top1'] for r in runs for m in r.metrics if 'eval_top1' in m]
  return 100.0 if all(v <= 1.0 for v in vals) else 1.0


def run_fractions(run: Run) -> dict[str, float]:
  """Per-layer fractions over the whole eval set, recomputed from the per-image arrays."""
  return dict(zip(run.gates['layers'], run.gates['per_image_layer_fraction'].mean(0).tolist()))


def _data_config(workdir: str | Path):
  """The run's data config from WORKDIR/config.json, under today's defaults."""
  saved = json.loads((Path(workdir) / 'config.json').read_text())['data']
  from adafilter_jax.data.config import get_data_config
  cfg = get_data_config()  # defaults under the saved values, for configs saved by older code
  cfg.update(saved)
  return cfg


def loader_from_config(workdir: str | Path) -> ImageLoader | None:
  """Eval images of the run's dataset from WORKDIR/config.json, or None if they can't be had."""
  try:
    cfg = _data_config(workdir)
    # imported only now: the data stack (tfds, grain) is slow to import and absent data is common
    from adafilter_jax.data import pipeline
    return lambda i: pipeline.get_eval_image(cfg, i)
  except Exception:  # noqa: BLE001 -- images are a nicety; the text panel stands in
    return None


def classes_from_config(workdir: str | Path) -> list[str] | None:
  """The class names of the run's dataset (digits_target: '5'..'9'), or None if its
  prepared metadata can't be read here (the figures then show label indices)."""
  try:
    from adafilter_jax.data import pipeline
    return list(pipeline.get_builder(_data_config(workdir)).info.features['label'].names)
  except Exception:  # noqa: BLE001 -- names are a nicety, as the images are
    return None


def one_task(runs: Sequence[Run]) -> tuple[list[Run], list[Run]]:
  """(the runs of one task, the others): the task is the dataset most runs share (the
  first run's on a tie). A report compares runs of one task; another's (the demo's source
  task, trained from scratch) is listed apart."""
  named = [r.summary.get('dataset') for r in runs if r.summary.get('dataset')]
  if not named:
    return list(runs), []
  task = max(dict.fromkeys(named), key=named.count)
  keep = [r.summary.get('dataset') in (task, None) for r in runs]
  return [r for r, k in zip(runs, keep) if k], [r for r, k in zip(runs, keep) if not k]
