"""Multi-host for real: two processes on this machine, joined by `jax.distributed`
(coordinator on 127.0.0.1, gloo CPU collectives), train the tiny config as one process
does on the same global batch.

Reference: the same worker as ONE process with two CPU devices. Two processes of one
device each run the global batch of 10 as 2 x 5, exactly as one process's two devices do,
so the sums are the same in the same order (observed: bit for bit; we allow 1e-6). A
one-device reference would not do: one device sums the 10 examples in another order, and
the tiny model (BN over 1x1 maps in its last stage) amplifies that ~1e-7 difference to
~5e-2 in the loss within 4 steps; 1 device = 2 devices is tested per step in
test_parallel.py. Each worker records what it read and wrote (multihost_worker.py).
"""
import json
import os

import numpy as np
import pytest

from tests import multihost


TOL = 1e-6
EPOCHS = 2
NUM_TRAIN, BATCH, NUM_EVAL, EVAL_BATCH = 50, 10, 846, 128  # the tiny config on digits_target


def _run(num_processes, workdir, out, *extra):
  return multihost.launch('tests.train.multihost_worker', num_processes, workdir, out,
                          '--epochs', str(EPOCHS), *extra)


def _params(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def _max_diff(a, b):
  assert a.keys() == b.keys()
  return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def _records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  for r in records:  # timings differ from run to run
    for k in ('images_per_sec', 'epoch_time_s'):
      r.pop(k)
  return records


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """One process, two devices, the same 2 epochs: final params and metrics records."""
  tmp = tmp_path_factory.mktemp('one_process')
  codes, logs = _run(1, tmp / 'run', tmp / 'out')
  assert codes == [0], logs[0][-4000:]
  return _params(tmp / 'out' / 'params_0.npz'), _records(tmp / 'run')


def _check_reads(log, process_index, epochs, first_step=0):
  """Train: exactly this host's half of every global batch; eval: its half of each."""
  local = BATCH // 2
  positions = {(e, pos) for e, pos, _ in log['train']}
  assert len(positions) == len(log['train'])  # nothing read twice
  expected = {(e, s * BATCH + process_index * local + j) for e in epochs
              for s in range(first_step if e == epochs[0] else 0, NUM_TRAIN // BATCH)
              for j in range(local)}
  assert positions == expected
  local_eval = EVAL_BATCH // 2
  mine = [i for i in log['eval'] if i >= 0]
  assert all((i % EVAL_BATCH) // local_eval == process_index for i in mine)
  return {(e, pos): record for e, pos, record in log['train']}, set(mine)


def test_two_processes_equal_one_process(tmp_path, reference):
  ref_params, ref_records = reference
  workdir, out = tmp_path / 'run', tmp_path / 'out'
  codes, logs = _run(2, workdir, out)
  assert codes == [0, 0], '\n'.join(logs)[-4000:]
  params = [_params(out / f'params_{i}.npz') for i in range(2)]
  assert _max_diff(params[0], params[1]) == 0.0  # every host holds the same state
  assert _max_diff(params[0], ref_params) <= TOL
  assert max(np.max(np.abs(v)) for v in ref_params.values()) > 0.01
  logs = [json.load(open(out / f'log_{i}.json')) for i in range(2)]
  assert [(g['process_index'], g['process_count'], g['device_count']) for g in logs] == [
      (0, 2, 2), (1, 2, 2)]
  reads = [_check_reads(g, i, list(range(EPOCHS))) for i, g in enumerate(logs)]
  # The two halves of each epoch are the whole training split, each image once.
  for e in range(EPOCHS):
    got = sorted(r for half, _ in reads for (ep, _), r in half.items() if ep == e)
    assert got == list(range(NUM_TRAIN))
  assert sorted(reads[0][1] | reads[1][1]) == list(range(NUM_EVAL))
  assert not reads[0][1] & reads[1][1]
  # Only process 0 writes the run's files (orbax writes the checkpoints collectively).
  assert [w for w in logs[1]['writes'] if not w.startswith('checkpoints')] == []
  assert {'metrics.jsonl', 'summary.json', 'config.json'} <= set(logs[0]['writes'])
  records = _records(workdir)
  for r, ref in zip(records, ref_records, strict=True):
    assert r.keys() == ref.keys()
    np.testing.assert_allclose([r['train_loss'], r['eval_top1']],
                               [ref['train_loss'], ref['eval_top1']], atol=1e-6)


def test_resume_across_processes_after_sigkill_and_sigterm(tmp_path, reference):
  """Both processes SIGKILLed once epoch 1 is saved, both restarted, interrupted again
  by a SIGTERM to one of them, restarted: the final params and the metrics equal the
  uninterrupted one-process run's."""
  ref_params, ref_records = reference
  workdir, out = tmp_path / 'run', tmp_path / 'out'
  codes, logs = _run(2, workdir, out, '--kill_after_epoch', '1')
  assert codes == [-9, -9], '\n'.join(logs)[-4000:]
  assert not (out / 'params_0.npz').exists()
  # Restarted; SIGTERM reaches process 1 only, after its 3rd batch of epoch 2. Both
  # must stop after the same step (a host that stops alone leaves the other waiting in
  # the next step's all-reduce), save step 8 together and exit as main.py does.
  codes, logs = _run(2, workdir, out, '--term_after_batches', '2')
  assert codes == [128 + 15] * 2, '\n'.join(logs)[-4000:]
  assert all('interrupted at step 8' in log for log in logs), logs
  codes, logs = _run(2, workdir, out)
  assert codes == [0, 0], '\n'.join(logs)[-4000:]
  for i in range(2):
    log = json.load(open(out / f'log_{i}.json'))
    _check_reads(log, i, [1], first_step=3)  # the rest of epoch 2, nothing before
    assert _max_diff(_params(out / f'params_{i}.npz'), ref_params) <= TOL
  records = _records(workdir)
  assert [r['epoch'] for r in records] == [1, 2]
  # Eval only: an epoch resumed mid-way averages its train metrics over the steps run
  # since the restart (train/loop.py), whatever the number of processes.
  for r, ref in zip(records, ref_records, strict=True):
    np.testing.assert_allclose([r['eval_top1'], r['eval_mean_class_acc']],
                               [ref['eval_top1'], ref['eval_mean_class_acc']], atol=1e-6)
