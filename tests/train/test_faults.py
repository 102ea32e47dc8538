"""The fault-injection command, small: a real job killed with SIGKILL and SIGTERM,
resumed each time, ends bit for bit where an uninterrupted run ends; and its comparison
sees a difference where there is one; Ctrl-C while the first step compiles stops in one
line. (The full run, 20 kills of each kind, is the README's Reliability section.)"""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from adafilter_jax.apps import faults
from adafilter_jax.train import config_files
from adafilter_jax.train import loop
from tests import fake_devices
from tests import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def killed_and_resumed(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('faults'))
  cwd, env = os.getcwd(), dict(os.environ)
  os.chdir(ROOT)  # the child loads configs/tiny.py by path
  try:
    result = faults.parent(['--config=configs/tiny.py', '--config.num_epochs=2',
                            f'--config.data.data_dir={tiny_config.DATA_DIR}'], root,
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


# main.py, with Ctrl-C pressed half a second into the first compile (the model's init):
# as a terminal sends it, SIGINT to the whole process group.
_CTRL_C_WHILE_COMPILING = r"""
import os, signal, sys, threading
from adafilter_jax.train import state
init = state.init_variables
def init_interrupted(*args, **kwargs):
  threading.Timer(0.5, os.killpg, (0, signal.SIGINT)).start()
  return init(*args, **kwargs)
state.init_variables = init_interrupted
sys.argv = ['main.py'] + sys.argv[1:]
import main
main.run()
"""


def test_ctrl_c_while_compiling_stops_in_one_line_and_the_run_starts_again(tmp_path):
  workdir = str(tmp_path / 'run')
  overrides = ['method=finetune', 'num_epochs=1', 'optim.decay_epochs=()',
               f'data.data_dir={tiny_config.DATA_DIR}']
  # No compilation cache: the init compiles, so the signal lands inside XLA's compile.
  env = {**os.environ, 'XLA_FLAGS': fake_devices.xla_flags(1), 'JAX_PLATFORMS': 'cpu',
         'PYTHONPATH': ROOT, 'JAX_ENABLE_COMPILATION_CACHE': 'false'}
  proc = subprocess.run(
      [sys.executable, '-c', _CTRL_C_WHILE_COMPILING, '--config=configs/tiny.py',
       f'--workdir={workdir}', *(f'--config.{o}' for o in overrides)],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
      start_new_session=True)  # its own process group: the signal reaches only the run
  assert proc.returncode == 128 + signal.SIGINT, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr and 'Fatal Python error' not in proc.stderr, (
      proc.stderr[-3000:])
  last = proc.stderr.strip().splitlines()[-1]
  assert 'SIGINT before step 1' in last and 'run the same command again' in last, last

  # Nothing half-done stays in the way: the same run goes on from there to its end.
  config = config_files.load(os.path.join(ROOT, 'configs', 'tiny.py'), overrides)
  loop.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, 'summary.json')) as f:
    assert json.load(f)['epochs'] == 1
