"""Does the gate choose per example? The report's policy section and figures.

Fig. 4 of the paper (per layer, the share of images using the fine-tuned filters) cannot
tell a per-example policy from a static one. These show what it cannot, from what the
trainer writes (train/policy.py's diagnostics in metrics.jsonl / summary.json, every
filter's share of images in gate_stats.npz): per layer the share of filters whose
decision varies across images and I(decision; class), at the start and after training;
the same over epochs beside the random policy's expected values; per stage, the
histogram of the filters' shares (static filters at 0 or 1); per class, the mean
fine-tuned fraction, classes by name where the dataset has names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adafilter_jax.apps.report import figures
from adafilter_jax.apps.report.figures import pyplot
from adafilter_jax.apps.report.runs import Run, classes_from_config

_OVER_EPOCHS = (('varying', 'filters varying across images (%)', 100.0),
                ('mi_bits', 'I(decision; class), mean over filters (bits)', 1.0),
                ('changed', 'decisions changed since the start (%)', 100.0),
                ('image_std', 'std over images of the fine-tuned fraction (pp)', 100.0))


def save(fig, out: Path) -> Path:
  plt = pyplot()
  fig.tight_layout()
  fig.savefig(out, dpi=figures.DPI)
  plt.close(fig)
  return out


def has_policy(run: Run) -> bool:
  return any('policy' in m for m in run.metrics)


def _stage(layer: str) -> str:
  return layer.split('/')[0].split('_')[0]


def plot_policy_over_epochs(runs: Sequence[Run], out: Path) -> Path:
  plt = pyplot()
  fig, axes = plt.subplots(1, len(_OVER_EPOCHS), figsize=(4.2 * len(_OVER_EPOCHS), 3.6))
  for ax, (key, title, scale) in zip(axes, _OVER_EPOCHS):
    for i, r in enumerate(runs):
      color = f'C{i}'
      recs = [m for m in r.metrics if 'policy' in m]
      start = (r.summary.get('policy_init') or {}).get('all', {})
      ep = ([0] if start.get(key) is not None else []) + [m['epoch'] for m in recs]
      val = ([start[key]] if start.get(key) is not None else []) + [
          m['policy']['all'][key] for m in recs]
      ax.plot(ep, np.asarray(val, float) * scale, marker='o', ms=2, color=color, label=r.label)
      ref = (r.summary.get('policy_reference') or {}).get('all', {}).get(key)
      if ref is not None:
        ax.axhline(ref * scale, color=color, ls=':', lw=1)
    ax.set(xlabel='epoch (0: the gate as initialised)', title=title)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7)
  fig.suptitle('The policy over training, over every gated filter (dotted: a Bernoulli(0.5) '
               'random policy on the same shapes, expected)', fontsize=9)
  return save(fig, out)


def _last_policy(r: Run) -> dict:
  return r.summary.get('policy') or [m for m in r.metrics if 'policy' in m][-1]['policy']


def plot_per_layer(runs: Sequence[Run], out: Path) -> Path:
  """Per layer: the share of varying filters (start vs last eval) and I(decision; class)."""
  plt = pyplot()
  num_layers = max(len(_last_policy(r)['layers']) for r in runs)
  # One panel a row: side by side, a ResNet-50's layer names were 6 px high.
  fig, axes = plt.subplots(2 * len(runs), 1, squeeze=False,
                           figsize=(figures.layers_width(num_layers), 3.4 * 2 * len(runs)))
  for (ax_v, ax_mi), r in zip(axes[:, 0].reshape(-1, 2), runs):
    last = _last_policy(r)
    start = (r.summary.get('policy_init') or {}).get('layers', {})
    names = list(last['layers'])
    x = np.arange(len(names))
    for ax, key, scale, label in ((ax_v, 'varying', 100, 'filters varying across images (%)'),
                                  (ax_mi, 'mi_bits', 1, 'I(decision; class) (bits)')):
      if start:
        ax.bar(x - 0.2, [start[n][key] * scale for n in names], 0.4, color='0.7',
               label='the gate as initialised')
      ax.bar(x + 0.2, [last['layers'][n][key] * scale for n in names], 0.4, color='tab:blue',
             label='after training')
      figures.name_layers(ax, names)
      ax.set(ylabel=label)
      ax.set_title(f'{r.label}: {label}, per layer', fontsize=9)
      ax.legend(fontsize=7)
  return save(fig, out)


def plot_share_hist(runs: Sequence[Run], out: Path) -> Path:
  """Per stage, the histogram of the filters' shares of images that pick F."""
  plt = pyplot()
  runs = [r for r in runs if r.gates is not None and 'filter_share' in r.gates]
  stages = list(dict.fromkeys(_stage(l) for l in runs[0].gates['layers']))
  fig, axes = plt.subplots(len(runs), len(stages), figsize=(2.6 * len(stages), 2.6 * len(runs)),
                           squeeze=False)
  bins = np.linspace(0, 1, 21)
  for row, r in zip(axes, runs):
    owner = np.repeat([_stage(l) for l in r.gates['layers']], r.gates['channels'])
    share = r.gates['filter_share']
    for ax, stage in zip(row, stages):
      s = share[owner == stage]
      static = np.mean((s == 0) | (s == 1)) * 100 if len(s) else 0.0
      ax.hist(s, bins=bins, color='tab:blue')
      ax.set_title(f'{stage}: {len(s)} filters, {static:.0f}% static', fontsize=8)
      ax.set_xlabel('share of images picking F', fontsize=7)
    row[0].set_ylabel(r.name, fontsize=8)
  fig.suptitle('Per filter, the share of eval images that fine-tune it (0 or 1: the same '
               'choice for every image)', fontsize=9)
  return save(fig, out)


def plot_per_class(runs: Sequence[Run], out: Path) -> Path:
  """Per class: the mean and spread over its images of the fine-tuned fraction."""
  plt = pyplot()
  fig, axes = plt.subplots(len(runs), 1, figsize=(9, 3.0 * len(runs)), squeeze=False)
  for ax, r in zip(axes[:, 0], runs):
    label, frac = r.gates['label'], r.gates['per_image_fraction'] * 100
    classes = np.unique(label)
    names = classes_from_config(r.path)
    ticks = [names[c] if names and c < len(names) else str(c) for c in classes]
    ax.boxplot([frac[label == c] for c in classes], showfliers=False)
    ax.set_xticks(range(1, len(classes) + 1))
    ax.set_xticklabels(ticks, rotation=90 if len(classes) > 12 else 0, fontsize=6 if
                       len(classes) > 30 else 8)
    ax.set(ylabel='fine-tuned filters (%)')
    ax.set_title(f'{r.label}: fine-tuned fraction per image, by class', fontsize=9)
  return save(fig, out)


def section(runs: Sequence[Run], out: Path) -> list[str]:
  """The report's policy section (figures written into `out`); [] without diagnostics."""
  runs = [r for r in runs if has_policy(r)]
  if not runs:
    return []
  md = ['', '## Does the gate choose per example?', '',
        'Fig. 4 above cannot tell a per-example policy from a static one. Over every gated '
        'filter (train/policy.py defines each; the random policy\'s expected values beside):',
        '', '| run | eval | varying filters (%) | I(decision; class) (bits) | same, labels '
        'shuffled (bits) | changed since the start (%) | per-image fraction std (pp) |',
        '|---|---|---|---|---|---|---|']
  for r in runs:
    last = [m for m in r.metrics if 'policy' in m][-1]
    rows = [(f"epoch {last['epoch']}", last['policy']['all'])]
    for key, what in (('policy_init', 'the gate as initialised'),
                      ('policy_reference', 'Bernoulli(0.5), expected')):
      if r.summary.get(key):
        rows.append((what, r.summary[key]['all']))
    for what, p in rows:
      changed = '–' if p.get('changed') is None else f"{p['changed'] * 100:.1f}"
      shuffled = ('–' if p.get('mi_shuffled_bits') is None
                  else f"{p['mi_shuffled_bits']:.4f}")
      md.append(f"| {r.name} | {what} | {p['varying'] * 100:.1f} | {p['mi_bits']:.4f} | "
                f"{shuffled} | {changed} | {p['image_std'] * 100:.2f} |")
  plot_policy_over_epochs(runs, out / 'policy_over_epochs.png')
  plot_per_layer(runs, out / 'policy_per_layer.png')
  md += ['', '![policy over epochs](policy_over_epochs.png)', '',
         '![varying filters and information per layer](policy_per_layer.png)']
  if any(r.gates is not None and 'filter_share' in r.gates for r in runs):
    plot_share_hist(runs, out / 'policy_filter_share.png')
    md += ['', '![per filter share of images picking F](policy_filter_share.png)']
  gated = [r for r in runs if r.gates is not None]
  if gated:
    plot_per_class(gated, out / 'policy_per_class.png')
    md += ['', '![fine-tuned fraction by class](policy_per_class.png)']
  return md
