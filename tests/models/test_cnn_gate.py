"""The CNN gate (Table 4): its ResNet-18 trunk is one with the model's batch-norm axis,
and it trains at the network's rate with weight decay, its heads at the gate's rate."""
import jax
import numpy as np

from adafilter_jax import methods
from adafilter_jax.train import optimizer
from tests import fake_devices
from tests.methods import tiny as tiny_vars
from tests.models import cnn_gate_parallel_check


def test_cnn_gate_under_pmap_and_jit_equals_one_device():
  report = fake_devices.run_check('tests.models.cnn_gate_parallel_check')
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
