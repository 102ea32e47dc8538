"""The study's tables, from the runs' summary.json files (nothing is recomputed).

- Accuracy: per cell and method, final eval top-1 mean ± std over the seeds (listed), and
  the paired difference to fine-tuning of the same seed, mean and 95% t-interval over
  seeds: d_s = acc(method, s) − acc(finetune, s), d̄ ± t_{0.975, n−1} · sd(d) / √n.
- Policy: per cell and gated method, the diagnostics of train/policy.py over every gated
  filter (mean over seeds): filters whose decision varies across images at the start and
  after training, I(decision; class) in bits, decisions changed since the start, the
  per-image fraction's std; and the Bernoulli(0.5) reference on the same shapes.
- Levers: each lever's accuracy, its paired difference to fine-tuning and to AdaFilter
  with the paper's settings, and its policy diagnostics.
"""
import csv
import io
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import stats

from adafilter_jax.apps import experiments
from adafilter_jax.apps.study import figures
from adafilter_jax.apps.study import run
from adafilter_jax.train import config_files
from adafilter_jax.train import policy

BASELINE = 'finetune'


def _summaries(root: str, cell: str, method: str, seeds) -> Dict[int, dict]:
  found = {}
  for seed in seeds:
    workdir = experiments.workdir_for(root, cell, method, seed)
    s = experiments.read_summary(workdir)
    if s and s.get('final_eval_top1') is not None:
      found[seed] = _with_shuffled_mi(workdir, s)
  return found


def _with_shuffled_mi(workdir: str, summary: dict) -> dict:
  """Runs from before `mi_shuffled_bits` existed: computed from the last eval's decisions
  (gate_stats.npz), as the trainer computes it now."""
  last = (summary.get('policy') or {}).get('all')
  path = os.path.join(workdir, 'gate_stats.npz')
  if last is None or 'mi_shuffled_bits' in last or not os.path.isfile(path):
    return summary
  with np.load(path) as z:
    d = np.concatenate(policy.unpack(z['decisions'], z['channels']), 1)
    labels = z['label']
  k = int(labels.max()) + 1
  last['mi_shuffled_bits'] = float(policy.mutual_information(d, policy.shuffled(labels),
                                                             k).mean())
  return summary


def paired(acc: Dict[int, float], base: Dict[int, float]) -> Optional[dict]:
  """The paired difference over the seeds both have: n, mean, 95% t-interval (points)."""
  seeds = sorted(set(acc) & set(base))
  if not seeds:
    return None
  d = np.array([acc[s] - base[s] for s in seeds])
  if len(d) < 2:
    return dict(n=1, mean=float(d[0]), lo=None, hi=None)
  half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
  return dict(n=len(d), mean=float(d.mean()), lo=float(d.mean() - half),
              hi=float(d.mean() + half))


def _acc(found: Dict[int, dict]) -> Dict[int, float]:
  return {seed: 100.0 * s['final_eval_top1'] for seed, s in found.items()}


def _mean_std(values: Sequence[float]) -> str:
  if not values:
    return '—'
  sd = np.std(values, ddof=1) if len(values) > 1 else 0.0
  return f'{np.mean(values):.2f} ± {sd:.2f}'


def _diff(p: Optional[dict]) -> str:
  if p is None:
    return '—'
  if p['lo'] is None:
    return f"{p['mean']:+.2f} (n=1)"
  return f"{p['mean']:+.2f} [{p['lo']:+.2f}, {p['hi']:+.2f}]"


def _policy_cells(found: Dict[int, dict]) -> List[str]:
  """Mean over seeds of the policy diagnostics over every gated filter."""
  keys = [('policy_init', 'varying'), ('policy', 'varying'), ('policy', 'mi_bits'),
          ('policy', 'mi_shuffled_bits'), ('policy', 'changed'), ('policy', 'image_std')]
  out = []
  for block, key in keys:
    vals = [s[block]['all'][key] for s in found.values()
            if s.get(block) and s[block]['all'].get(key) is not None]
    out.append('—' if not vals else f'{np.mean(vals):.3g}' if key.startswith('mi')
               else f'{np.mean(vals) * 100:.1f}')
  return out


POLICY_HEADER = ('| varying filters at start (%) | varying after (%) | I(decision; class) '
                 '(bits) | same, labels shuffled (bits) | decisions changed (%) | per-image '
                 'fraction std (pp) |')


def rows(root: str, study) -> List[dict]:
  """One row per (cell, method) of the grid and per (lever cell, lever)."""
  out = []
  grid = [(c, m, 'grid') for c, _, _ in run.cells(study) for m in study.methods]
  grid += [(c, lever, 'lever') for c in study.lever_cells for lever in study.levers]
  for cell, method, kind in grid:
    found = _summaries(root, cell, method, study.seeds)
    acc = _acc(found)
    base = _acc(_summaries(root, cell, BASELINE, study.seeds))
    ada = _acc(_summaries(root, cell, 'adafilter', study.seeds))
    out.append(dict(cell=cell, method=method, kind=kind, seeds=sorted(acc),
                    acc=[acc[s] for s in sorted(acc)], found=found,
                    vs_finetune=None if method == BASELINE else paired(acc, base),
                    vs_adafilter=paired(acc, ada) if kind == 'lever' else None))
  return out


def to_markdown(table: List[dict], command: str, images: Sequence[str] = ()) -> str:
  lines = [f'Reproduce: `{command}`', '', *[f'![{i}]({i})' for i in images], '',
           '## Accuracy: final eval top-1 (%), and the paired difference to fine-tuning',
           '', '| cell | method | seeds | top-1 mean ± std | − fine-tuning, mean [95% CI] |',
           '|---|---|---|---|---|']
  grid = [r for r in table if r['kind'] == 'grid']
  lines += [f"| {r['cell']} | {r['method']} | {' '.join(map(str, r['seeds'])) or '—'} | "
            f"{_mean_std(r['acc'])} | {_diff(r['vs_finetune'])} |" for r in grid]
  lines += ['', '## Policy of the gated methods (every gated filter; mean over seeds)', '',
            '| cell | method ' + POLICY_HEADER, '|---' * 8 + '|']
  lines += [f"| {r['cell']} | {r['method']} | " + ' | '.join(_policy_cells(r['found'])) + ' |'
            for r in grid if any(s.get('policy') for s in r['found'].values())]
  ref = next((s['policy_reference']['all'] for r in grid for s in r['found'].values()
              if s.get('policy_reference')), None)
  if ref:
    lines.append(f"| (Bernoulli(0.5), expected) | | 100.0 | {ref['varying'] * 100:.1f} | "
                 f"{ref['mi_bits']:.3g} | {ref['mi_bits']:.3g} | {ref['changed'] * 100:.1f} | "
                 f"{ref['image_std'] * 100:.1f} |")
  levers = [r for r in table if r['kind'] == 'lever']
  if levers:
    lines += ['', '## The gate\'s levers (AdaFilter with one setting changed)', '',
              '| cell | lever | seeds | top-1 mean ± std | − fine-tuning [95% CI] | '
              '− AdaFilter [95% CI] ' + POLICY_HEADER, '|---' * 12 + '|']
    lines += [f"| {r['cell']} | {r['method']} | {' '.join(map(str, r['seeds'])) or '—'} | "
              f"{_mean_std(r['acc'])} | {_diff(r['vs_finetune'])} | {_diff(r['vs_adafilter'])} | "
              + ' | '.join(_policy_cells(r['found'])) + ' |' for r in levers]
  return '\n'.join(lines) + '\n'


def to_csv(table: List[dict]) -> str:
  out = io.StringIO()
  w = csv.writer(out, lineterminator='\n')
  w.writerow(['cell', 'method', 'kind', 'seed', 'final_eval_top1', 'varying', 'mi_bits',
              'mi_shuffled_bits', 'changed', 'image_std', 'varying_init'])
  for r in table:
    for seed, s in sorted(r['found'].items()):
      p, p0 = (s.get('policy') or {}).get('all', {}), (s.get('policy_init') or {}).get('all', {})
      w.writerow([r['cell'], r['method'], r['kind'], seed, s['final_eval_top1'],
                  p.get('varying'), p.get('mi_bits'), p.get('mi_shuffled_bits'),
                  p.get('changed'), p.get('image_std'),
                  p0.get('varying')])
  return out.getvalue()


def write(config_path: str, root: str, overrides: Sequence[str] = ()) -> str:
  """Writes <root>/study.md, <root>/study.csv and the figures; returns the markdown."""
  study = config_files.load(config_path, overrides).study
  table = rows(root, study)
  command = f'python -m adafilter_jax.apps.study --config {config_path} --root {root}' + ''.join(
      f' --set {o}' for o in overrides)
  os.makedirs(root, exist_ok=True)
  images = []
  if any(r['vs_finetune'] for r in table):
    images.append(figures.plot_differences(table, os.path.join(root, 'differences.png')))
    images.append(figures.plot_policy_vs_gain(table, os.path.join(root, 'policy_vs_gain.png')))
  md = to_markdown(table, command, [os.path.basename(i) for i in images])
  with open(os.path.join(root, 'study.md'), 'w') as f:
    f.write(md)
  with open(os.path.join(root, 'study.csv'), 'w') as f:
    f.write(to_csv(table))
  return md
