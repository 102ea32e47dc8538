"""The study's figures, from `tables.rows` (one PNG each)."""
from __future__ import annotations

from pathlib import Path
from typing import List

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from adafilter_jax.apps.report.policy import save  # noqa: E402


def plot_differences(table: List[dict], out: Path) -> Path:
  """Per cell, each method's paired difference to fine-tuning with its 95% t-interval."""
  grid = [r for r in table if r['kind'] == 'grid' and r['vs_finetune']]
  cells = list(dict.fromkeys(r['cell'] for r in grid))
  methods = list(dict.fromkeys(r['method'] for r in grid))
  fig, ax = plt.subplots(figsize=(8, 0.9 + 0.45 * len(cells) * len(methods)))
  y, ticks, labels = 0, [], []
  for cell in cells:
    for i, method in enumerate(methods):
      r = next((r for r in grid if r['cell'] == cell and r['method'] == method), None)
      if r is None:
        continue
      p = r['vs_finetune']
      err = None if p['lo'] is None else [[p['mean'] - p['lo']], [p['hi'] - p['mean']]]
      ax.errorbar(p['mean'], y, xerr=err, fmt='o', color=f'C{i}', capsize=3)
      ticks.append(y)
      labels.append(f"{cell}  {method} (n={p['n']})")
      y -= 1
    y -= 0.6
  ax.axvline(0, color='k', lw=0.8)
  ax.set_yticks(ticks)
  ax.set_yticklabels(labels, fontsize=7)
  ax.set(xlabel='top-1 − fine-tuning of the same seed (points; 95% t-interval)',
         title='When does a method beat fine-tuning?')
  ax.grid(axis='x', alpha=0.3)
  return save(fig, out)


def plot_policy_vs_gain(table: List[dict], out: Path) -> Path:
  """Every gated run: how input-dependent its policy is vs its gain over fine-tuning."""
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  base = {(r['cell'], s): a for r in table if r['method'] == 'finetune'
          for s, a in zip(r['seeds'], r['acc'])}
  names = list(dict.fromkeys(r['method'] for r in table
                             if any(s.get('policy') for s in r['found'].values())))
  for i, name in enumerate(names):
    pts = [(s['policy']['all']['varying'] * 100, s['policy']['all']['mi_bits'],
            100 * s['final_eval_top1'] - base[r['cell'], seed])
           for r in table if r['method'] == name for seed, s in r['found'].items()
           if s.get('policy') and (r['cell'], seed) in base]
    if not pts:
      continue
    v, mi, gain = np.array(pts).T
    marker = 'o' if i < 10 else 's'
    axes[0].scatter(v, gain, s=14, color=f'C{i % 10}', marker=marker, label=name)
    axes[1].scatter(mi, gain, s=14, color=f'C{i % 10}', marker=marker)
  axes[0].set(xlabel='filters whose decision varies across images (%)',
              ylabel='top-1 − fine-tuning (points)')
  axes[1].set(xlabel='I(decision; class), mean over filters (bits)')
  for ax in axes:
    ax.axhline(0, color='k', lw=0.8)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=6, ncol=2)
  fig.suptitle('Is a more input-dependent policy a better one? (one point per run)', fontsize=10)
  return save(fig, out)
