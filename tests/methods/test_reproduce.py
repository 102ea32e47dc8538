"""The one-command reproduction: its list, refusal and estimate before anything trains,
then the grid and the table, end to end on the offline digits data (`demo` stands in for
a dataset: tiny model, 1 epoch)."""
import csv
import os
import re

import pytest

from adafilter_jax.apps import experiments
from adafilter_jax.apps import reproduce
from tests.train import tiny as train_tiny

TINY = ['num_epochs=1', 'model.width=4', 'data.image_size=16', 'data.resize_size=16',
        f'data.data_dir={train_tiny.DATA_DIR}', 'optim.decay_epochs=(1,)', 'progress_bar=False',
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
