"""pmap over 2 devices and jit over a 2-device mesh equal a 1-device step (same batch).

XLA_FLAGS must be set before jax is imported, so the check runs in a subprocess.
Tolerance: 1e-5 absolute on every param, BN statistic, metric and eval output (float32
reductions in a different order; observed ~1e-7).
"""
import json
import os
import subprocess
import sys

import jax

TOL = 1e-5
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_pmap_and_jit_equal_one_device():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2',
             JAX_PLATFORMS='cpu', PYTHONPATH=ROOT,
             JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir or '',
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0.5')
  proc = subprocess.run([sys.executable, '-m', 'tests.train.parallel_check'], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
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
