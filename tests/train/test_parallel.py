"""pmap over 2 devices and jit over a 2-device mesh equal a 1-device step (same batch).

XLA_FLAGS must be set before jax is imported, so the check runs in a subprocess.
Tolerance: 1e-5 absolute on every param, BN statistic, metric and eval output (float32
reductions in a different order; observed ~1e-7).
"""
import json

import jax
import pytest

from tests import fake_devices

TOL = 1e-5


@pytest.mark.parametrize('batch, overrides', [
    (8, {}),
    # 2 micro-batches of 8 (4 a device), BN over each micro-batch on both devices together.
    # (Micro-batches of 4 differ by ~4e-5: BN over 4 values of the 1x1 maps of this tiny
    # model amplifies float32 rounding; docs/training.md, "Multi-host", says the same.)
    (16, {'grad_accum_steps': 2, 'model.remat': True})])
def test_pmap_and_jit_equal_one_device(batch, overrides):
  report = fake_devices.run_check('tests.train.parallel_check', CHECK_BATCH=str(batch),
                                  CHECK_OVERRIDES=json.dumps(overrides))
  assert report['moved'] > 1e-4, report  # the step did change the params
  assert report['pmap'] < TOL, report
  assert report['jit'] < TOL, report


def test_second_step_reuses_the_first_steps_compilation():
  """The state a step returns must look like the one it was given (same avals, same
  sharding), or every run pays the step's compile twice."""
  import jax.numpy as jnp
  import numpy as np

  from adafilter_jax.train.parallel import Parallel
  for strategy in ('pmap', 'jit'):
    par = Parallel(strategy)
    traces = []

    def step(state, batch, key, anchor):
      traces.append(1)
      return jax.tree.map(lambda s: s + batch.sum(), state), {'m': jnp.float32(0)}

    fn = par.train_step(step)
    state = par.put_state({'w': np.ones(3, np.float32), 'b': np.float32(0)})
    anchor = par.put_state({'w': np.zeros(3, np.float32)})
    for _ in range(3):
      state, _ = fn(state, par.put_batch(np.ones((2, 2), np.float32)), jax.random.key(0),
                    anchor)
    assert len(traces) == 1, strategy
