"""Rounds: one interrupted by SIGTERM mid-accumulation and resumed ends where an
uninterrupted one does; per-round K_i, hardness and accuracy are saved and K_i follows
Eq. 3. The batches are built in a grain worker process."""
import json
import os
import signal

import numpy as np
import pytest

from adafilter_jax.systems.selective import index, joint, mining, rounds, run
from adafilter_jax.train import parallel
from adafilter_jax.train.loop import Interrupted
from tests.systems.selective import tiny


_MODEL = tiny.model()
_PARALLEL = parallel.Parallel('pmap')  # one CPU device here: pmap over it
_FNS = {}


def _run(workdir):
  config = tiny.config(rounds=2, iterations=3, iter_size=2, checkpoint_every=3, k0=2,
                       target_batch=3)
  config.eval_batch_size = 8
  config.data.num_workers = 1  # batches built in a grain worker process, as in a real run
  target, test = tiny.random_split(6, 3, 0), tiny.random_split(8, 3, 1)
  source = tiny.random_split(10, 4, 2)
  neighbours = np.stack([np.random.default_rng(i).permutation(10) for i in range(6)])
  idx = index.Index(neighbours, np.zeros((6, 10)), {}, '')
  if not _FNS:  # one init and one compile of each step for the three runs
    variables = joint.init_joint_variables(_MODEL, tiny.SIZE, seed=0)
    _FNS['variables'] = variables
    _FNS['steps'] = joint.make_steps(config, _PARALLEL, variables['params'])
  variables = _FNS['variables']
  return run.run_rounds(config, _PARALLEL, str(workdir), _MODEL, variables, idx, target,
                        test, source, 3, steps=_FNS['steps'])


def _interrupt_after(monkeypatch, n):
  """The round's batch iterator sends SIGTERM to this process after `n` batches."""
  make = rounds._batches  # pylint: disable=protected-access

  def make_and_interrupt(*args):
    for i, batch in enumerate(make(*args)):
      if i == n:
        signal.raise_signal(signal.SIGTERM)
      yield batch

  monkeypatch.setattr(rounds, '_batches', make_and_interrupt)


def test_resumed_round_equals_uninterrupted(tmp_path, monkeypatch):
  straight = _run(tmp_path / 'a')
  with monkeypatch.context() as m:
    _interrupt_after(m, 2)  # the signal during batch 3: mid-update (iter_size 2)
    with pytest.raises(Interrupted) as stopped:
      _run(tmp_path / 'b')
  assert stopped.value.step == 3
  assert not os.path.exists(tmp_path / 'b' / 'round_0' / 'round.json')
  resumed = _run(tmp_path / 'b')
  assert len(straight) == len(resumed) == 2
  for a, b in zip(straight, resumed):
    assert a['k'] == b['k'] and a['k_next'] == b['k_next'] and a['hardness'] == b['hardness']
    np.testing.assert_allclose(a['entropy'], b['entropy'], rtol=1e-5)
    assert a['eval_mean_class_acc'] == b['eval_mean_class_acc']
  for r in range(2):
    pa = np.load(tmp_path / 'a' / f'round_{r}' / 'test_probs.npy')
    pb = np.load(tmp_path / 'b' / f'round_{r}' / 'test_probs.npy')
    np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-6)
  # The saved record, and K_i of round 1 = Eq. 3 applied to round 0's saved table.
  with open(tmp_path / 'a' / 'round_0' / 'round.json') as f:
    saved = json.load(f)
  assert saved['k'] == [2] * 6
  hard = np.array(saved['hardness'])
  np.testing.assert_array_equal(saved['k_next'], 2 + np.select(
      [hard == mining.WRONG, hard == mining.UNSURE], [8, 4], 0))
  assert straight[1]['k'] == saved['k_next']
