"""Multi-host for real: two processes joined by `jax.distributed` (127.0.0.1, gloo CPU
collectives) run two short selective joint rounds (training, then prediction and
mining) as one process with two devices does on the same global batches
(multihost_worker.py), each decoding only its own half of every batch, process 0 alone
writing the round files.

Reference: one process with two devices (2 x 2 target + 2 x 2 source images a batch,
the same sums in the same order as two processes of one device each; one device is
tested against two in test_parallel.py). Tolerance 1e-6.
"""
import json

import numpy as np

from tests import multihost

TOL = 1e-6
B, STEPS, ROUNDS = 4, 2, 2  # the worker's target_batch, micro-steps per round, rounds


def _run(num_processes, workdir, out):
  codes, logs = multihost.launch('tests.systems.selective.multihost_worker', num_processes, workdir,
                                 out)
  assert codes == [0] * num_processes, '\n'.join(logs)[-4000:]
  return [json.load(open(out / f'result_{i}.json')) for i in range(num_processes)]


def test_two_processes_equal_one_process_with_two_devices(tmp_path):
  (ref,) = _run(1, tmp_path / 'one', tmp_path / 'one_out')
  results = _run(2, tmp_path / 'two', tmp_path / 'two_out')
  assert [(r['process_index'], r['process_count'], r['device_count']) for r in results] == [
      (0, 2, 2), (1, 2, 2)]
  for res in results:  # every process holds the same records, equal to the reference
    for got, want in zip(res['records'], ref['records'], strict=True):
      assert got['k'] == want['k'] and got['k_next'] == want['k_next']
      assert got['hardness'] == want['hardness']
      np.testing.assert_allclose(got['test_probs'], want['test_probs'], atol=TOL)
      np.testing.assert_allclose(got['entropy'], want['entropy'], atol=TOL)
  assert ref['records'][-1]['k'] != ref['records'][0]['k']  # mining did move K_i
  # Each process decoded its half of every batch (targets and partners), each image once.
  half = B // 2
  for p, res in enumerate(results):
    keys = [tuple(d[:4]) for d in res['decoded']]
    assert sorted(keys) == sorted((r, s, kind, j) for r in range(ROUNDS)
                                  for s in range(STEPS) for kind in (0, 1)
                                  for j in range(p * half, (p + 1) * half))
  both = sorted(tuple(d) for res in results for d in res['decoded'])
  assert both == sorted(tuple(d) for d in ref['decoded'])
  # Process 0 alone writes the round files (orbax writes the checkpoints collectively).
  assert [w for w in results[1]['writes'] if 'checkpoints' not in w] == []
  assert {f'round_{r}/{f}' for r in range(ROUNDS) for f in ('round.json', 'test_probs.npy')
          } <= set(results[0]['writes'])
