"""The one-command reproduction: its list, refusal and estimate before anything trains,
then the grid and the table, end to end on the offline digits data (`demo` stands in for
a dataset: tiny model, 1 epoch)."""
import csv
import os
import re

import jax
import pytest

from adafilter_jax.apps import experiments
from adafilter_jax.apps import reproduce
from tests import tiny_config

TINY = ['num_epochs=1', 'model.width=4', 'data.image_size=16', 'data.resize_size=16',
        f'data.data_dir={tiny_config.DATA_DIR}', 'optim.decay_epochs=(1,)', 'progress_bar=False',
        'eval_batch_size=256']


def _sets(overrides):
  return sum([['--set', o] for o in overrides], [])


def test_refuses_listing_the_manual_downloads_before_anything(tmp_path, capsys):
  downloads_dir, root = tmp_path / 'downloads', tmp_path / 'runs'
  downloads_dir.mkdir()
  (downloads_dir / 'TrainImages.txt').write_text('kitchen/a.jpg\n')  # one of MIT's three
  data_dir = tmp_path / 'tfds'
  code = reproduce.main(['--datasets', 'caltech256_30,mit_indoor,demo', '--seeds', '0',
                         '--root', str(root), '--manual_dir', str(downloads_dir),
                         '--set', f'data.data_dir={data_dir}'])
  out = capsys.readouterr().out
  assert code == reproduce.REFUSED
  refusal = out[out.index('Nothing was prepared or trained'):]
  tar = os.path.join(str(downloads_dir), '256_ObjectCategories.tar')
  assert ('https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar  '
          f'(1.2 GB, md5:67b4f42ca05d46448c6bb8ecd2220f6d) -> {tar}') in refusal
  assert 'indoorCVPR_09.tar  (2.4 GB, no checksum published)' in refusal
  assert 'TestImages.txt' in refusal and 'TrainImages.txt' not in refusal  # it is there
  assert 'demo' not in refusal  # prepares itself
  assert re.search(r'demo \(digits_target, .*\): prepared offline on first use', out)
  assert ('hf-hub:timm/resnet50.tv_in1k: downloads itself from the Hugging Face Hub on first '
          'use') in out
  assert not root.exists() and not data_dir.exists()  # nothing prepared, nothing trained


def test_lists_estimates_runs_and_tabulates_on_digits(tmp_path, capsys):
  root = str(tmp_path / 'runs')
  argv = ['--datasets', 'demo', '--methods', 'finetune,l2sp', '--seeds', '0,1',
          '--root', root, '--timing_steps', '2'] + _sets(TINY)
  assert reproduce.main(argv) == 0
  out = capsys.readouterr().out
  num = r'([\d.]+(?:e-\d+)?)'
  rows = re.findall(rf'^\| demo \| (\w+) \| {num} \| {num} \| (\d+) \| (\d+) \| 1 \| 2 \| '
                    rf'{num} \|$', out, re.M)
  assert [r[0] for r in rows] == ['finetune', 'l2sp']
  for _, train_s, eval_s, steps, eval_steps, hours in rows:
    # 50 training images in batches of 10; 846 eval images in batches of 10
    assert (int(steps), int(eval_steps)) == (5, 85)
    want = (float(train_s) * 5 + float(eval_s) * 85) * 1 * 2 / 3600
    assert float(hours) == pytest.approx(want, rel=3e-3)
  assert out.index('Estimated on this machine') < out.index('| method | demo |')  # before training
  with open(os.path.join(root, 'table.csv')) as f:
    rows = {r['method']: r for r in csv.DictReader(f)}
  for method in ('finetune', 'l2sp'):  # both seeds of both methods trained to the end
    assert (rows[method]['dataset'], rows[method]['seeds']) == ('demo', '0 1')
    assert experiments.read_summary(os.path.join(root, 'demo', method, 'seed_1'))['epochs'] == 1
  with open(os.path.join(root, 'table.md')) as f:
    assert re.search(r'\| l2sp \| \d+\.\d\d ± \d+\.\d\d \(—\) \|', f.read())


def test_the_estimate_says_what_it_times_before_compiling_at_a_bounded_batch(tmp_path,
                                                                            monkeypatch):
  """On a CPU the estimate printed nothing for ten minutes and used 10 GB: it timed
  ResNet-50 at the config's batch of 64 in silence."""
  config = experiments.make_config('demo', 'finetune', 0, str(tmp_path), TINY)
  lines, built = [], []
  real_case = reproduce.bench_steps.JaxCase

  def case(*args, **kwargs):
    built.append((args[2], len(lines)))  # the batch, and what was printed before
    return real_case(*args, **kwargs)

  monkeypatch.setattr(reproduce.bench_steps, 'JaxCase', case)
  monkeypatch.setattr(reproduce.bench_steps, 'median_time',
                      lambda fn, n: {'train_step': 0.5, 'eval_step': 0.1}[fn.__name__])
  [cost] = reproduce.estimate({('demo', 'finetune'): config}, 1, 2, lines.append)
  batch = min(reproduce.CPU_TIMING_BATCH * jax.local_device_count(), config.batch_size)
  assert built == [(batch, 1)]  # compiled after one line, at the small batch
  assert lines[0] == (f'  timing finetune at batch {batch}, 16 px: compiling, then 2 train '
                      f'and 2 eval steps, times x{10 / batch:.3g} for batch 10 ...')
  assert re.fullmatch(r'    compiled in \d+ s; a warm-up and 2 train steps \.\.\.', lines[1])
  assert lines[2:] == ['    a warm-up and 2 eval steps ...',
                       f'  timed finetune at batch 10, 16 px: train {0.5 * 10 / batch:.3f} s, '
                       f'eval {0.1 * 10 / batch:.3f} s a step']
  # A step's time scales with its images: 0.5 s at `batch` is 0.5 * 10 / batch at 10.
  assert (cost.train_s, cost.eval_s) == pytest.approx((0.5 * 10 / batch, 0.1 * 10 / batch))
  assert reproduce.cpu_warning([config]) is None  # 16 px: no warning


def test_warns_before_timing_resnet50_on_a_cpu(tmp_path):
  config = experiments.make_config('caltech256_30', 'adafilter', 0, str(tmp_path))
  assert reproduce.cpu_warning([config]).startswith(
      'warning: timing resnet50 at 224 px on a CPU: each method compiles for a minute')
  assert reproduce.timing_batch(config) == reproduce.CPU_TIMING_BATCH * jax.local_device_count()
  assert reproduce.timing_batch(config, requested=16) == 16


def test_grid_stops_before_its_first_run_listing_every_dataset_not_prepared(tmp_path, capsys):
  """The grid (experiments.py) prepares nothing: datasets not prepared stop it at once,
  in one message (what reproduce lists, and the command that prepares each), not one
  failed run per dataset, method and seed."""
  data_dir, root = tmp_path / 'tfds', tmp_path / 'runs'
  code = experiments.main(['--datasets', 'caltech256_30,mit_indoor', '--methods',
                           'finetune,l2sp', '--seeds', '0,1', '--root', str(root),
                           '--set', f'data.data_dir={data_dir}'])
  err = capsys.readouterr().err
  assert code == 1
  assert err.count('error: ') == 1 and 'Traceback' not in err, err
  message = err[err.index('error: '):]
  for name in ('caltech256/30', 'mit_indoor67'):
    assert f'python -m adafilter_jax.data.prepare {name} ' in message, message
  assert 'https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar' in message
  assert 'indoorCVPR_09.tar' in message and 'python -m adafilter_jax.apps.reproduce' in message
  assert not root.exists() and not data_dir.exists()  # nothing ran, nothing was written
