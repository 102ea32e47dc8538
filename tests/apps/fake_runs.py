"""Run directories as the trainer writes them, built by hand from known gate decisions,
and the report's figures caught as they are drawn: shared by the report's tests."""

from __future__ import annotations

import json

import numpy as np

from adafilter_jax.apps.report import figures

# ResNet-like names and widths in forward order: stem, two stages, downsample in each first block
LAYERS = {'conv1': 8,
          'layer1_0/conv1': 4, 'layer1_0/conv2': 4, 'layer1_0/conv3': 16, 'layer1_0/downsample': 16,
          'layer1_1/conv1': 4, 'layer1_1/conv2': 4, 'layer1_1/conv3': 16,
          'layer2_0/conv1': 8, 'layer2_0/conv2': 8, 'layer2_0/conv3': 32, 'layer2_0/downsample': 32}
N_EVAL = 23


def gate_decisions(seed=0):
  rng = np.random.default_rng(seed)
  # the probability of fine-tuning grows with depth, as the paper's Fig. 4 shows
  return {name: (rng.random((N_EVAL, c)) < 0.1 + 0.8 * i / len(LAYERS)).astype(np.int8)
          for i, (name, c) in enumerate(LAYERS.items())}


def direct_count(decisions):
  """Per layer: ones / (images * channels), counted element by element."""
  out = {}
  for name, d in decisions.items():
    ones = total = 0
    for row in d.tolist():
      for v in row:
        ones += v == 1
        total += 1
    out[name] = ones / total
  return out


def write_run(workdir, *, method, acc, decisions=None, config=None, dataset='digits/target'):
  workdir.mkdir(parents=True)
  with open(workdir / 'metrics.jsonl', 'w') as f:
    for e, a in enumerate(acc, 1):
      f.write(json.dumps({'epoch': e, 'step': 10 * e, 'train_loss': 1.0 / e, 'train_top1': a,
                          'eval_top1': a, 'eval_mean_class_acc': a - 0.01,
                          'gate_fraction': {} if decisions is None else
                          direct_count(decisions),
                          'lr': {'net': 0.01}, 'images_per_sec': 100.0, 'epoch_time_s': 1.0}) + '\n')
  (workdir / 'summary.json').write_text(json.dumps(
      {'method': method, 'dataset': dataset, 'config_name': 'tiny',
       'final_eval_top1': acc[-1], 'best_eval_top1': max(acc), 'best_epoch': int(np.argmax(acc)) + 1,
       'final_eval_mean_class_acc': acc[-1] - 0.01, 'epochs': len(acc), 'num_params': {'net': 1},
       'wall_time_s': 3.0}))
  if config is not None:
    (workdir / 'config.json').write_text(json.dumps(config))
  if decisions is not None:
    # built by hand, as the trainer's contract says, so the report is checked against it
    widths = np.array([d.shape[1] for d in decisions.values()])
    per_img_layer = np.stack([d.sum(1) / d.shape[1] for d in decisions.values()], 1)
    np.savez(workdir / 'gate_stats.npz',
             layers=np.array(list(decisions)),
             layer_fraction=np.array(list(direct_count(decisions).values()), np.float32),
             per_image_layer_fraction=per_img_layer.astype(np.float32),
             per_image_fraction=((per_img_layer * widths).sum(1) / widths.sum()).astype(np.float32),
             index=np.arange(100, 100 + N_EVAL), label=np.arange(N_EVAL) % 5,
             pred=(np.arange(N_EVAL) * 7) % 5, epoch=np.array(len(acc)))


def keep_figures(monkeypatch) -> dict:
  """title (or suptitle) -> figure, for every figure the report draws from now on (kept
  open, to be read back)."""
  figs = {}

  def keep(fig):
    figs[fig.get_suptitle() or fig.axes[0].get_title()] = fig

  monkeypatch.setattr(figures.pyplot(), 'close', keep)
  return figs
