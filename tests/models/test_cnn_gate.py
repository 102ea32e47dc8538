"""The CNN gate (Table 4): its ResNet-18 trunk is one with the model's batch-norm axis,
and it trains at the network's rate with weight decay, its heads at the gate's rate."""
import json
import os
import subprocess
import sys

import jax
import numpy as np

from adafilter_jax import methods
from adafilter_jax.train import optimizer
from tests.methods import tiny as tiny_vars
from tests.models import cnn_gate_parallel_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cnn_gate_under_pmap_and_jit_equals_one_device():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2',
             JAX_PLATFORMS='cpu', PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, '-m', 'tests.models.cnn_gate_parallel_check'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert report['moved'] > 1e-4, report
  assert report['pmap'] < 1e-5, report  # the tolerance of tests/train/test_parallel.py
  assert report['jit'] < 1e-5, report


def test_cnn_gate_trunk_trains_as_the_network_heads_as_the_gate():
  config = cnn_gate_parallel_check.cnn_gate_config()
  method = methods.get('adafilter')
  model = method.build_model(config, 5, None)
  params = tiny_vars.variables(model, np.zeros((1, 16, 16, 3), np.float32),
                               train=False)['params']
  labels = method.labels(params)
  decayed = optimizer.decay_mask(labels)
  trunk = jax.tree.leaves(labels['gate']['trunk'])
  assert trunk and set(trunk) == {'network'}
  assert jax.tree.leaves(decayed['gate']['trunk']['conv1']['conv']) == [True]
  heads = {k: v for k, v in labels['gate'].items() if k.startswith('head_')}
  assert heads and set(jax.tree.leaves(heads)) == {'gate'}
