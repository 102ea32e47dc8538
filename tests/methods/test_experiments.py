"""The experiments grid: one resumable workdir per run, the table over seeds."""
import csv
import json
import os

import jax
import numpy as np
import pytest

from adafilter_jax.apps import experiments
from tests import tiny_config


def _fake_runner(calls):
  def run(config, workdir):  # what train_and_evaluate leaves behind, in brief
    calls.append(workdir)
    os.makedirs(workdir, exist_ok=True)
    acc = {'finetune': 0.70, 'l2sp': 0.80}[config.method] + 0.01 * config.seed
    with open(os.path.join(workdir, 'summary.json'), 'w') as f:
      json.dump({'final_eval_top1': acc, 'best_eval_top1': acc + 0.05, 'epochs':
                 config.num_epochs, 'method': config.method, 'dataset': config.data.name}, f)
  return run


def test_grid_runs_each_cell_once_and_tabulates_mean_and_std(tmp_path):
  root, calls = str(tmp_path), []
  grid = (['caltech256_30', 'mit_indoor'], ['finetune', 'l2sp'], [0, 1])
  status = experiments.run_grid(*grid, root, overrides=['num_epochs=2'],
                                runner=_fake_runner(calls))
  assert len(calls) == 8 and set(status.values()) == {'done'}
  assert os.path.join(root, 'mit_indoor', 'l2sp', 'seed_1') in calls
  # A second call finds every summary complete: nothing runs again.
  status = experiments.run_grid(*grid, root, overrides=['num_epochs=2'],
                                runner=_fake_runner(calls))
  assert len(calls) == 8 and set(status.values()) == {'skipped'}
  # More epochs asked for: the runs are unfinished, so they run (and resume) again.
  experiments.run_grid(*grid[:2], [0], root, overrides=['num_epochs=3'],
                       runner=_fake_runner(calls))
  assert len(calls) == 12

  md = experiments.write_table(root, *grid[:2])
  assert '| l2sp | 80.50 ± 0.71 (79.33) | 80.50 ± 0.71 (76.41) |' in md
  assert '| finetune | 70.50 ± 0.71 (78.09) |' in md
  with open(os.path.join(root, 'table.csv')) as f:
    rows = list(csv.DictReader(f))
  row = next(r for r in rows if r['method'] == 'finetune' and r['dataset'] == 'mit_indoor')
  assert row['n'] == '2' and row['seeds'] == '0 1' and float(row['paper']) == 76.42
  np.testing.assert_allclose(float(row['mean']), 70.5)
  np.testing.assert_allclose(float(row['std']), np.std([70.0, 71.0], ddof=1))


def test_fixed_spottune_takes_the_global_k_blocks_from_the_training_split(tmp_path):
  """A finished global-k run (its checkpoint; a random policy) on the digits data: the
  fixed model's blocks are the k most fine-tuned over the TRAINING images, computed here
  by the model itself on every training image, not the eval split's gate_stats.npz."""
  from adafilter_jax import methods
  from adafilter_jax.data import pipeline
  from adafilter_jax.train import checkpoint as checkpoint_lib
  from adafilter_jax.train import state as state_lib
  from adafilter_jax.train import steps
  from tests.methods import tiny
  root = str(tmp_path)
  overrides = ['model.width=4', 'spottune.policy_width=4', 'data.image_size=16',
               'data.resize_size=16', f'data.data_dir={tiny_config.DATA_DIR}', 'num_epochs=1',
               'eval_batch_size=32', 'parallel=jit']
  config = experiments.make_config('demo', 'spottune_global_k', 0, root, overrides)
  workdir = experiments.workdir_for(root, 'demo', 'spottune_global_k', 0)
  method = methods.get(config.method)
  model = method.build_model(config, 5, None)
  variables = tiny.variables(model, np.zeros((1, 16, 16, 3), np.float32), seed=3, train=False)
  ckpts = checkpoint_lib.Checkpoints(os.path.join(workdir, 'checkpoints'))
  ckpts.save(5, state_lib.create_state(method, model, variables, config, 5), {'epoch': 1})
  ckpts.close()
  with open(os.path.join(workdir, 'summary.json'), 'w') as f:
    json.dump({'final_eval_top1': 0.5, 'epochs': 1}, f)

  train_split, _ = pipeline.splits(config.data)
  images = np.concatenate([b['image'][b['mask']] for b in pipeline.make_eval_iter(
      config.data, global_batch_size=32, split=train_split)])
  assert len(images) == pipeline.load_dataset_info(config.data).num_train
  _, gates = jax.jit(lambda x: model.apply(variables, steps.normalize(x, config.data),
                                           train=False))(images)
  names = list(gates)
  train_usage = np.array([np.mean(gates[n]) for n in names])
  k = config.spottune.k
  expected = [names[i] for i in sorted(np.argsort(-train_usage, kind='stable')[:k])]
  # The eval split's statistics would pick the k least used training blocks.
  np.savez(os.path.join(workdir, 'gate_stats.npz'), layers=np.array(names),
           layer_fraction=1.0 - train_usage)

  fixed = experiments.make_config('demo', 'spottune_fixed', 0, root, overrides)
  assert fixed.spottune.blocks == ','.join(expected), train_usage
  with open(os.path.join(workdir, 'train_policy_usage.json')) as f:
    kept = json.load(f)
  assert list(kept) == names
  np.testing.assert_allclose(list(kept.values()), train_usage, rtol=1e-6)


def test_sample_rate_axis_trains_as_many_steps_and_sets_tllib_beside(tmp_path):
  """--sample_rates: one workdir per (dataset, rate), the rate's share of the images for
  100/rate times the recipe's epochs, TLlib's number for that rate in the table."""
  root, seen = str(tmp_path), {}

  def run(config, workdir):
    seen[workdir] = config
    os.makedirs(workdir, exist_ok=True)
    acc = 0.5 + 0.1 * config.data.sample_rate + 0.01 * config.seed
    with open(os.path.join(workdir, 'summary.json'), 'w') as f:
      json.dump({'best_eval_top1': acc, 'epochs': config.num_epochs}, f)

  status = experiments.run_grid(['cubs'], ['erm', 'co_tuning'], [0, 1], root, runner=run,
                                sample_rates=[15, 100])
  assert len(status) == 8 and set(status.values()) == {'done'}
  # TLlib's recipe on CUB-200 (5994 images, batch 48: 124 steps a pass): 10,000 steps are
  # 81 epochs, the decay after 6,000 at 48; at 15 %, 540 and 320 (x 100/15).
  full = seen[experiments.workdir_for(root, 'cubs', 'erm', 0, 100)]
  low = seen[os.path.join(root, 'cubs_15pct', 'co_tuning', 'seed_1')]
  schedule = lambda c: (c.data.sample_rate, c.num_epochs, tuple(c.optim.decay_epochs))
  assert schedule(full) == (1.0, 81, (48,)) and schedule(low) == (0.15, 540, (320,))
  assert low.seed == 1 and low.method == 'co_tuning' and full.batch_size == 48

  md = experiments.write_table(root, ['cubs'], ['erm', 'co_tuning'], 'best_eval_top1', [15, 100])
  assert "(TLlib's number)" in md and '| method | cubs 15% | cubs 100% |' in md
  assert '| erm | 52.00 ± 0.71 (51.20) | 60.50 ± 0.71 (81.80) |' in md
  assert '| co_tuning | 52.00 ± 0.71 (57.60) | 60.50 ± 0.71 (82.50) |' in md
  with open(os.path.join(root, 'table.csv')) as f:
    rows = list(csv.DictReader(f))
  assert [(r['method'], r['sample_rate'], r['paper']) for r in rows] == [
      ('erm', '15', '51.2'), ('erm', '100', '81.8'), ('co_tuning', '15', '57.6'),
      ('co_tuning', '100', '82.5')]
  with pytest.raises(ValueError, match='sample rate 0'):
    experiments.make_config('cubs', 'erm', 0, root, sample_rate=0)
