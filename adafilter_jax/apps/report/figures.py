"""The report's figures; each takes loaded runs and writes one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adafilter_jax.apps.report.runs import ImageLoader, Run, acc_scale, run_fractions

_EXTREMES_K = 6
# Layer names under bars: a font readable at the PNG's size (8 pt at 120 dpi: 13 px a
# line), and each bar as wide as a vertical name needs, so a ResNet-50's 53 layers fit.
DPI = 120
LAYER_FONT = 8
_INCH_PER_LAYER = 1.5 * LAYER_FONT / 72


def layers_width(num_layers: int) -> float:
  """The width (inches) of a figure with a bar and a vertical name per layer."""
  return max(8.0, _INCH_PER_LAYER * num_layers + 2.0)


def name_layers(ax, names: Sequence[str]):
  ax.set_xticks(range(len(names)))
  ax.set_xticklabels(names, rotation=90, fontsize=LAYER_FONT)


def lattice(fractions: np.ndarray, max_filters: int = 4096) -> int | None:
  """The smallest n <= max_filters of which every fraction is a multiple of 1/n: the
  filter count (or a divisor that the values seen share); None if there is none. Read
  from the values, as an evaluation's gate stats do not record the filter counts."""
  v = np.unique(np.asarray(fractions, np.float64))
  for start in range(1, max_filters + 1, 256):
    n = np.arange(start, min(start + 256, max_filters + 1))[:, None]
    ok = np.all(np.abs(v * n - np.rint(v * n)) < 1e-3, axis=1)  # float32 fractions
    if ok.any():
      return int(n[ok.argmax(), 0])
  return None


def fraction_bins(fractions: np.ndarray, num_filters: int, max_bins: int = 30) -> np.ndarray:
  """Histogram edges (%) for fractions of `num_filters` filters, which can only be
  k / num_filters: each bin holds the same number of those values, its edges halfway
  between two. Edges that ignore them leave some bins empty (a gap that looks bimodal)."""
  k = np.rint(np.asarray(fractions, np.float64) * num_filters)
  lo, hi = int(k.min()), int(k.max())
  step = max(1, -(-(hi - lo + 1) // max_bins))
  bins = -(-(hi - lo + 1) // step)
  return (lo - 0.5 + step * np.arange(bins + 1)) / num_filters * 100


def pyplot():
  """matplotlib's pyplot, headless (reports are written on training machines and in CI),
  imported when a figure is drawn: every command imports this package, few draw, and the
  import is a fifth of each command's start."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_accuracy(runs: Sequence[Run], out: Path) -> Path:
  """Eval top-1 per epoch, a curve per run; a run evaluated once (a re-evaluation) is a
  marker at its epoch, and when every run was evaluated once, the figure is a bar each."""
  plt = pyplot()
  scale = acc_scale(runs)
  evals = [[(m['epoch'], m['eval_top1'] * scale) for m in r.metrics if 'eval_top1' in m]
           for r in runs]
  fig, ax = plt.subplots(figsize=(7, 4.2))
  if all(len(e) == 1 for e in evals):
    _one_evaluation_each(ax, runs, [e[0] for e in evals])
  else:
    for r, e in zip(runs, evals):
      ep, acc = zip(*e) if e else ((), ())
      if len(e) == 1:  # a point, not a curve of one epoch
        ax.plot(ep, acc, ls='none', marker='*', ms=11,
                label=f'{r.label}: one evaluation (epoch {ep[0]}), {acc[0]:.2f}%')
      else:
        ax.plot(ep, acc, marker='o' if len(ep) <= 30 else None, ms=3,
                label=f'{r.label}: final {acc[-1]:.2f}%' if acc else r.label)
    ax.set(xlabel='epoch', ylabel='eval top-1 accuracy (%)', title='Eval accuracy per epoch')
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(out, dpi=DPI)
  plt.close(fig)
  return out


def _one_evaluation_each(ax, runs: Sequence[Run], evals):
  """One bar per run, labelled with its accuracy and the epoch of its checkpoint."""
  acc = [a for _, a in evals]
  bars = ax.bar(range(len(runs)), acc, width=0.6, color=[f'C{i}' for i in range(len(runs))])
  ax.bar_label(bars, [f'{a:.2f}%\n(ckpt of epoch {ep})' for ep, a in evals], fontsize=8)
  ax.set_xticks(range(len(runs)), [r.name for r in runs], fontsize=8)
  ax.set_ylim(0, max(acc) * 1.2 if max(acc) > 0 else 1)
  ax.set(ylabel='eval top-1 accuracy (%)', title='Eval accuracy, one evaluation each')


def plot_layer_fractions(runs: Sequence[Run], out: Path) -> Path:
  plt = pyplot()
  fig, axes = plt.subplots(len(runs), 1, figsize=(layers_width(len(runs[0].gates['layers'])),
                                                   3.4 * len(runs)), squeeze=False)
  for ax, r in zip(axes[:, 0], runs):
    names = r.gates['layers']
    frac = np.array(list(run_fractions(r).values())) * 100
    blocks = [n.split('/')[0] for n in names]
    stages = [b.split('_')[0] for b in blocks]
    order = list(dict.fromkeys(stages))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(order)))
    ax.bar(range(len(names)), frac, color=[colors[order.index(s)] for s in stages], width=0.8)
    for i in range(1, len(names)):  # stage boundaries solid, block boundaries dotted
      if blocks[i] != blocks[i - 1]:
        ax.axvline(i - 0.5, color='k', lw=1.0 if stages[i] != stages[i - 1] else 0.4,
                   ls='-' if stages[i] != stages[i - 1] else ':')
    for s in order:
      idx = [i for i, t in enumerate(stages) if t == s]
      if len(idx) > 1:  # a one-layer stem is named by its tick already
        ax.text(np.mean(idx), 103, s, ha='center', va='bottom', fontsize=8)
    mean = float(np.mean(r.gates['per_image_fraction'])) * 100
    ax.axhline(mean, color='tab:red', ls='--', lw=1)
    # Right of the axes, at the line's height: inside them it would cover bars.
    ax.annotate(f'all filters\n{mean:.1f}%', xy=(1, mean), xycoords=('axes fraction', 'data'),
                xytext=(4, 0), textcoords='offset points', color='tab:red', ha='left',
                va='center', fontsize=8)
    name_layers(ax, names)
    ax.set(xlim=(-0.6, len(names) - 0.4), ylim=(0, 112), ylabel='fine-tuned filters (%)')
    ax.set_title(f'{r.label}: % of eval images using the fine-tuned filters, per layer (mean over '
                 f'its filters; eval at epoch {int(r.gates.get("epoch", -1))})', fontsize=9)
  fig.tight_layout()
  fig.savefig(out, dpi=DPI)
  plt.close(fig)
  return out


def plot_fraction_hist(runs: Sequence[Run], out: Path) -> Path:
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(7, 4))
  allv = np.concatenate([r.gates['per_image_fraction'] for r in runs])
  filters = lattice(allv)
  if filters:
    bins = fraction_bins(allv, filters)
  else:  # thousands of filters: a bin holds many possible values, any edges will do
    bins = np.linspace(allv.min() * 100, allv.max() * 100 + 1e-9, 31)
  for r in runs:
    v = r.gates['per_image_fraction'] * 100
    ax.hist(v, bins=bins, alpha=0.6, label=f'{r.label}: mean {v.mean():.1f}%, n={len(v)}')
  ax.set(xlabel='fine-tuned filters per image (% of all gated filters)', ylabel='eval images',
         title='Distribution over eval images of the fine-tuned fraction')
  ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))  # counts
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(out, dpi=DPI)
  plt.close(fig)
  return out


def plot_extremes(runs: Sequence[Run], out: Path, loaders: Sequence[ImageLoader | None],
                  classes: Sequence[Sequence[str] | None] | None = None) -> Path:
  """`classes`: per run, its dataset's class names (None: label indices)."""
  plt = pyplot()
  k = max(1, min(_EXTREMES_K, len(runs[0].gates['per_image_fraction']) // 2))
  classes = classes or [None] * len(runs)
  fig, axes = plt.subplots(2 * len(runs), k, figsize=(1.7 * k, 2.1 * 2 * len(runs)), squeeze=False)
  for ri, (r, load, names) in enumerate(zip(runs, loaders, classes)):
    g, frac = r.gates, r.gates['per_image_fraction']
    name = lambda i, names=names: names[i] if names and 0 <= i < len(names) else str(i)
    order = np.argsort(-frac, kind='stable')
    for row, (what, picks) in enumerate([('most', order[:k]), ('fewest', order[::-1][:k])]):
      for col in range(k):
        ax = axes[2 * ri + row, col]
        ax.set_xticks([]), ax.set_yticks([])
        if col >= len(picks):
          ax.axis('off')
          continue
        j = picks[col]
        idx, lab, pred = (int(g[key][j]) if key in g else -1 for key in ('index', 'label', 'pred'))
        img = None
        if load is not None:
          try:
            img = np.asarray(load(idx))
          except Exception:  # noqa: BLE001 -- one failure means the data is unavailable: stop trying
            load = None
        if img is not None:
          ax.imshow(img.squeeze(), cmap='gray' if img.squeeze().ndim == 2 else None)
        else:
          ax.text(0.5, 0.5, f'#{idx}\nlabel {name(lab)}', ha='center', va='center', fontsize=9)
        ax.set_title(f'{frac[j] * 100:.1f}% ft\ny={name(lab)} p={name(pred)}', fontsize=7,
                     color='tab:green' if lab == pred else 'tab:red')
        if col == 0:
          ax.set_ylabel(f'{r.name}\n{what}', fontsize=8)
  fig.suptitle('Eval images that fine-tune the most / fewest filters '
               '(title: % fine-tuned, label y, prediction p; red = misclassified)', fontsize=8)
  fig.tight_layout()
  fig.savefig(out, dpi=DPI)
  plt.close(fig)
  return out
