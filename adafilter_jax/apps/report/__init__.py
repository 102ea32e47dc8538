"""Report of one or more runs: accuracy curves (paper Fig. 3), per-layer fine-tuned fraction (Fig. 4),
its distribution over images, and the images that fine-tune the most / fewest filters.

    python -m adafilter_jax.apps.report WORKDIR [WORKDIR ...] [--out DIR]

Reads only what the trainer writes (metrics.jsonl, summary.json, gate_stats.npz, config.json);
see docs/report.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adafilter_jax.apps.report import figures
from adafilter_jax.apps.report import policy
from adafilter_jax.apps.report.runs import (ImageLoader, Run, acc_scale, classes_from_config,
                                            load_run, loader_from_config, one_task,
                                            run_fractions)

__all__ = ['write_report', 'write_run_report', 'load_run', 'loader_from_config', 'Run', 'ImageLoader']


def _fmt(v, scale=1.0):
  return '–' if v is None else f'{v * scale:.2f}'


def write_report(workdirs: Sequence[str | Path], out_dir: str | Path,
                 image_loader: ImageLoader | None = None) -> Path:
  """Figures and report.md for `workdirs` into out_dir; returns the markdown path.

  The runs of one task are compared (`runs.one_task`); a run of another dataset is
  listed apart, in no figure.

  image_loader(eval_index) -> uint8 image for the extremes figure; None: each run's config.json.
  """
  paths = [Path(w) for w in workdirs]
  names = [p.resolve().name for p in paths]
  # same dir name under different parents (runs/a/ft, runs/b/ft): keep the parent to tell them apart
  names = [f'{p.resolve().parent.name}/{n}' if names.count(n) > 1 else n for p, n in zip(paths, names)]
  runs, apart = one_task([load_run(p, n) for p, n in zip(paths, names)])
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  scale = acc_scale(runs + apart)
  gated = [r for r in runs if r.gates is not None]

  md = ['# Run report', ''] + _summary_table(runs, scale)
  if apart:
    md += ['', f"## Runs on another dataset (listed apart, in no figure: the runs above are "
           f"on {runs[0].summary.get('dataset')})", ''] + _summary_table(apart, scale)
  single = all(sum('eval_top1' in m for m in r.metrics) == 1 for r in runs)
  heading = 'Eval accuracy, one evaluation each' if single else 'Eval accuracy per epoch'
  md += ['', f'## {heading}', '']
  if any(r.metrics for r in runs):
    figures.plot_accuracy(runs, out / 'accuracy.png')
    md.append(f'![{heading.lower()}](accuracy.png)')
  else:
    md.append('_No epochs logged yet._')

  md += ['', '## Fine-tuned filters per layer (eval set)', '']
  for r in runs:
    if r.gates is None:
      md.append(f'_{r.name}: no gate statistics (a plain model: every filter is fine-tuned or none '
                'is); skipped in the gate figures._')
  if not gated:
    return _finish(out, md)
  figures.plot_layer_fractions(gated, out / 'gate_fraction_per_layer.png')
  figures.plot_fraction_hist(gated, out / 'gate_fraction_hist.png')
  loaders = [image_loader if image_loader is not None else loader_from_config(r.path) for r in gated]
  figures.plot_extremes(gated, out / 'gate_extremes.png', loaders,
                        [classes_from_config(r.path) for r in gated])
  md += ['![fine-tuned fraction per layer](gate_fraction_per_layer.png)', '',
         '## Fine-tuned fraction per image', '', '![histogram](gate_fraction_hist.png)', '',
         '## Images that fine-tune the most / fewest filters', '', '![extremes](gate_extremes.png)']
  for r in gated:
    md += _layer_table(r)
  md += policy.section(runs, out)
  return _finish(out, md)


def _layer_table(r: Run) -> list[str]:
  """A gated run's per-layer fine-tuned fraction, folded, counted from its decisions."""
  frac = run_fractions(r)
  stored = np.asarray(r.gates.get('layer_fraction', list(frac.values())))
  md = ['', f'<details><summary>{r.name}: per-layer fine-tuned fraction '
        f'(eval epoch {int(r.gates.get("epoch", -1))}, {len(r.gates["per_image_fraction"])} images)'
        '</summary>', '', '| layer | fine-tuned (%) |', '|---|---|']
  md += [f'| {n} | {v * 100:.2f} |' for n, v in frac.items()]
  md += ['', '</details>']
  # atol: the trainer may sum in float32 over thousands of images
  if not np.allclose(stored, list(frac.values()), atol=1e-4):
    md.append(f'\n**Warning** ({r.name}): gate_stats.npz `layer_fraction` disagrees with the mean '
              'of `per_image_layer_fraction`; the table shows the latter.')
  return md


def write_run_report(workdir: str | Path) -> Path:
  """One run's own report, in ``<workdir>/report`` (what training and evaluation write)."""
  return write_report([workdir], Path(workdir) / 'report')


def _summary_table(runs, scale: float) -> list[str]:
  """One row per run: final and best eval top-1, mean-class accuracy, fine-tuned share."""
  md = ['| run | method | dataset | final eval top-1 (%) | best eval top-1 (%) '
        '| final mean-class acc (%) | fine-tuned filters (%) |', '|---|---|---|---|---|---|---|']
  for r in runs:
    s, last = r.summary, (r.metrics[-1] if r.metrics else {})
    final = s.get('final_eval_top1', last.get('eval_top1'))
    best = s.get('best_eval_top1', max((m['eval_top1'] for m in r.metrics if 'eval_top1' in m),
                                       default=None))
    mca = s.get('final_eval_mean_class_acc', last.get('eval_mean_class_acc'))
    ft = None if r.gates is None else float(np.mean(r.gates['per_image_fraction']))
    md.append(f"| {r.name} | {s.get('method') or '?'} | {s.get('dataset') or '?'} | "
              f"{_fmt(final, scale)} | {_fmt(best, scale)} | {_fmt(mca, scale)} | {_fmt(ft, 100)} |")
  return md


def _finish(out: Path, md: list[str]) -> Path:
  path = out / 'report.md'
  path.write_text('\n'.join(md) + '\n')
  return path
