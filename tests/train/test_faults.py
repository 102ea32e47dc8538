"""The fault-injection command, small: a real job killed with SIGKILL and SIGTERM,
resumed each time, ends bit for bit where an uninterrupted run ends; and its comparison
sees a difference where there is one. (The full run, 20 kills of each kind, is the
README's Reliability section.)"""
import json
import os
import shutil

import numpy as np
import pytest

from adafilter_jax.apps import faults
from tests.train import tiny

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def killed_and_resumed(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('faults'))
  cwd, env = os.getcwd(), dict(os.environ)
  os.chdir(ROOT)  # the child loads configs/tiny.py by path
  try:
    result = faults.parent(['--config=configs/tiny.py', '--config.num_epochs=2',
                            f'--config.data.data_dir={tiny.DATA_DIR}'], root,
                           kills_per_kind=1, seed=0)
  finally:
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
  return root, result


def test_killed_runs_end_bit_for_bit_as_the_uninterrupted_one(killed_and_resumed):
  _, result = killed_and_resumed
  assert result['kills_survived']['SIGKILL'] >= 1, result
  assert result['kills_survived']['SIGTERM'] >= 1, result
  assert result['differences'] == [], result


def test_the_comparison_sees_differences_and_ignores_only_wall_time(killed_and_resumed,
                                                                     tmp_path):
  root, _ = killed_and_resumed
  reference = os.path.join(root, 'reference')
  copy = str(tmp_path / 'copy')
  shutil.copytree(reference, copy, ignore=shutil.ignore_patterns('checkpoints*', 'report'))
  assert faults.compare(reference, copy) == []

  path = os.path.join(copy, 'metrics.jsonl')
  with open(path) as f:
    records = [json.loads(line) for line in f]
  records[0]['epoch_time_s'] += 1.0  # wall time: not a difference
  with open(path, 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)
  assert faults.compare(reference, copy) == []
  with open(path, 'w') as f:  # a duplicated epoch, as a kill could leave
    f.writelines(json.dumps(r) + '\n' for r in records + records[-1:])
  assert any('metrics.jsonl' in d for d in faults.compare(reference, copy))

  state = dict(np.load(os.path.join(copy, faults.FINAL_STATE)))
  name = next(k for k in state if 'params' in k and state[k].size > 1)
  state[name] = np.nextafter(state[name], np.inf)  # one ulp
  np.savez(os.path.join(copy, faults.FINAL_STATE), **state)
  assert any(name in d for d in faults.compare(reference, copy))
