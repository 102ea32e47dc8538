"""The study command's grid and tables: cells, lever configs, paired t-intervals."""
import json
import os

import numpy as np
import pytest

from adafilter_jax.apps import experiments
from adafilter_jax.apps.study import run
from adafilter_jax.apps.study import tables
from adafilter_jax.train import config_files

CONFIG = 'configs/study/digits.py'


def test_paired_difference_t_interval_by_hand():
  # d = 1, 2, 3: mean 2, sd 1, t_{0.975, 2} = 4.302653 (a t table), half = 4.302653 / sqrt(3)
  p = tables.paired({0: 11.0, 1: 22.0, 2: 33.0, 7: 99.0}, {0: 10.0, 1: 20.0, 2: 30.0})
  assert p['n'] == 3 and p['mean'] == pytest.approx(2.0)
  assert p['hi'] - p['mean'] == pytest.approx(4.302653 / np.sqrt(3), abs=1e-5)
  assert p['lo'] == pytest.approx(2.0 - 4.302653 / np.sqrt(3), abs=1e-5)
  assert tables.paired({0: 1.0}, {1: 2.0}) is None
  assert tables.paired({0: 3.0}, {0: 2.0}) == dict(n=1, mean=1.0, lo=None, hi=None)


def test_cells_and_a_lever_run_config():
  study = config_files.load(CONFIG).study
  names = [c for c, _, _ in run.cells(study)]
  assert names == ['src2_digits_shots10', 'src2_digits_shots100', 'src15_digits_shots10',
                   'src15_digits_shots100']
  weights = {2: '/w/e2', 15: '/w/e15'}
  c = run.make('src15_digits_shots100', 'norm_batch', 1, '/root', ['model.width=4'],
               config_path=CONFIG, study=study, weights=weights)
  assert (c.method, c.seed, c.pretrained, c.data.name) == ('adafilter', 1, '/w/e15',
                                                            'digits_shots100')
  assert c.adafilter.gate_input_norm == 'batch' and c.model.width == 4
  assert (c.batch_size, c.num_epochs) == (25, 15)  # the target's own overrides
  plain = run.make('src2_digits_shots10', 'l2sp', 0, '/root', [], config_path=CONFIG,
                   study=study, weights=weights)
  assert plain.method == 'l2sp' and plain.pretrained == '/w/e2' and plain.num_epochs == 30
  assert plain.adafilter.gate_input_norm == 'none'  # the paper's default unchanged
  with pytest.raises(ValueError, match='unknown study cell'):
    run.make('src3_x', 'finetune', 0, '/root', [], config_path=CONFIG, study=study,
             weights=weights)


def _summary(root, cell, method, seed, top1, varying=None):
  workdir = experiments.workdir_for(root, cell, method, seed)
  os.makedirs(workdir)
  s = {'final_eval_top1': top1, 'epochs': 1}
  if varying is not None:
    p = {'all': {'varying': varying, 'mi_bits': 0.01, 'mi_shuffled_bits': 0.002,
                 'changed': 0.2, 'image_std': 0.03}}
    s.update(policy=p, policy_init={'all': {**p['all'], 'varying': 0.5, 'changed': 0.0}},
             policy_reference={'all': {'varying': 1.0, 'mi_bits': 0.004, 'changed': 0.5,
                                       'image_std': 0.02}})
  with open(os.path.join(workdir, 'summary.json'), 'w') as f:
    json.dump(s, f)


def test_tables_from_summaries(tmp_path):
  root = str(tmp_path)
  cell = 'src15_digits_shots10'  # the lever cell too
  for seed, (ft, ada) in enumerate([(0.80, 0.78), (0.82, 0.81), (0.84, 0.80)]):
    _summary(root, cell, 'finetune', seed, ft)
    _summary(root, cell, 'adafilter', seed, ada, varying=0.25)
  _summary(root, cell, 'norm_batch', 0, 0.85, varying=0.9)
  md = tables.write(CONFIG, root)
  # AdaFilter 78, 81, 80 (sd 1.53); - fine-tuning: -2, -1, -4 -> -2.33 ± 4.3027 * 1.528 / sqrt(3)
  row = next(l for l in md.splitlines() if l.startswith(f'| {cell} | adafilter |'))
  assert '| 0 1 2 |' in row and '79.67 ± 1.53' in row and '-2.33 [-6.13, +1.46]' in row
  policy_row = [l for l in md.splitlines() if l.startswith(f'| {cell} | adafilter |')][1]
  assert '| 50.0 | 25.0 | 0.01 | 0.002 | 20.0 | 3.0 |' in policy_row
  lever = next(l for l in md.splitlines() if l.startswith(f'| {cell} | norm_batch |'))
  assert '+5.00 (n=1)' in lever and '+7.00 (n=1)' in lever  # vs fine-tuning, vs AdaFilter
  for name in ('study.csv', 'differences.png', 'policy_vs_gain.png'):
    assert os.path.isfile(os.path.join(root, name)), name
