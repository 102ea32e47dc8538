"""The report's policy section on a synthetic run with planted decisions."""
from __future__ import annotations

import json

import numpy as np

from adafilter_jax.apps import report
from adafilter_jax.train import policy

LAYERS = {'conv1': 4, 'layer1_0/conv1': 8, 'layer2_0/conv1': 8}
N = 20


def _write(workdir, epochs=2):
  labels = np.arange(N) % 2
  static = {n: np.tile(np.arange(c) % 2 == 0, (N, 1)) for n, c in LAYERS.items()}
  # after training: layer2's filters copy the class (1 bit each), the rest stay static
  final = dict(static, **{'layer2_0/conv1': np.tile(labels[:, None] == 1, (1, 8))})
  diag = lambda d: policy.diagnose(list(LAYERS), [d[n] for n in LAYERS], labels, 2,
                                   [static[n] for n in LAYERS])
  start, end = diag(static), diag(final)
  workdir.mkdir(parents=True)
  with open(workdir / 'metrics.jsonl', 'w') as f:
    for e in range(1, epochs + 1):
      f.write(json.dumps({'epoch': e, 'eval_top1': 0.5, 'gate_fraction': {}, 'policy': end})
              + '\n')
  ref = policy.bernoulli_reference(list(LAYERS), list(LAYERS.values()), N, 2)
  (workdir / 'summary.json').write_text(json.dumps(
      {'method': 'adafilter', 'final_eval_top1': 0.5, 'policy': end, 'policy_init': start,
       'policy_reference': ref}))
  every = np.concatenate([final[n] for n in LAYERS], 1)
  per_layer = np.stack([final[n].mean(1) for n in LAYERS], 1)
  np.savez(workdir / 'gate_stats.npz', layers=np.array(list(LAYERS)), epoch=epochs,
           layer_fraction=per_layer.mean(0), per_image_layer_fraction=per_layer,
           per_image_fraction=every.mean(1), index=np.arange(N), label=labels,
           pred=labels, channels=np.array(list(LAYERS.values())),
           decisions=np.packbits(every, axis=1), filter_share=every.mean(0))


def test_policy_section_numbers_and_figures(tmp_path):
  _write(tmp_path / 'ada')
  md = report.write_report([tmp_path / 'ada'], tmp_path / 'out').read_text()
  rows = [l for l in md.splitlines() if l.startswith('| ada |')]
  # 8 of 20 filters copy the class: 40% vary, 8 bits / 20 filters = 0.4 bit on average;
  # they changed on half the images: 8 * 10 / (20 * 20) = 20% of all decisions.
  assert rows[-3].startswith('| ada | epoch 2 | 40.0 | 0.4000 | ')
  assert rows[-3].endswith(' | 20.0 | 20.00 |')
  assert rows[-2] == '| ada | the gate as initialised | 0.0 | 0.0000 | 0.0000 | 0.0 | 0.00 |'
  assert rows[-1].startswith('| ada | Bernoulli(0.5), expected | 100.0 |')
  for name in ('policy_over_epochs', 'policy_per_layer', 'policy_filter_share',
               'policy_per_class'):
    assert (tmp_path / 'out' / f'{name}.png').stat().st_size > 1000, name
    assert f'({name}.png)' in md
