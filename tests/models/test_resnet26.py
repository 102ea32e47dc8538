"""ResNet-26 against an independent torch reference, through the converter."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from adafilter_jax.weights import convert_resnet26
from adafilter_jax.models import resnet26 as resnet26_lib
from tests.models import torch_resnet26


def _pair(num_classes=7, width=32, seed=0):
  torch.manual_seed(seed)
  ref = torch_resnet26.randomize_bn(torch_resnet26.ResNet26(num_classes, width), seed).eval()
  sd = {k: v.numpy() for k, v in ref.state_dict().items()}
  variables = convert_resnet26.to_flax(sd)
  model = resnet26_lib.resnet26(num_classes, width=width)
  return ref, model, variables


def test_converted_logits_equal_torch_and_sizes_halve_every_stage():
  ref, model, variables = _pair()
  x = np.random.RandomState(0).randn(2, 3, 64, 64).astype(np.float32)
  sizes = []
  with torch.no_grad():
    want = ref(torch.from_numpy(x), sizes).numpy()
  (got, gates), state = model.apply(variables, jnp.asarray(x.transpose(0, 2, 3, 1)),
                                    mutable=['intermediates'])
  assert gates == {}
  err = np.max(np.abs(np.asarray(got) - want)) / np.max(np.abs(want))
  assert err <= 1e-4, err
  assert sizes == [(64, 32, 32), (128, 16, 16), (256, 8, 8)]  # torch: C, H, W
  inter = state['intermediates']
  assert [inter[f'layer{i}'][0].shape[1:] for i in (1, 2, 3)] == [
      (32, 32, 64), (16, 16, 128), (8, 8, 256)]


def test_parameter_count_equals_the_reference():
  ref, _, variables = _pair(num_classes=10)
  n_torch = sum(p.numel() for p in ref.parameters())
  n_flax = sum(np.size(a) for a in jax.tree_util.tree_leaves(variables['params']))
  n_stats = sum(np.size(a) for a in jax.tree_util.tree_leaves(variables['batch_stats']))
  assert n_flax == n_torch
  assert n_stats == sum(b.numel() for n, b in ref.named_buffers() if 'running' in n)


def test_spottune_naming_converts_to_the_same_variables():
  ref, _, variables = _pair(num_classes=5)
  rename = {'pre_layers_conv.conv.': 'conv1.', 'pre_layers_conv.bns.0.': 'bn1.',
            'end_bns.0.0.': 'bn2.0.', 'linears.0.': 'linear.'}
  sd = {}
  for k, v in ref.state_dict().items():
    for a, b in rename.items():
      k = k.replace(a, b)
    if k.startswith('layer'):
      s, rest = k[len('layer'):].split('.', 1)
      rest = (rest.replace('conv1.conv.', 'conv1.').replace('conv1.bns.0.', 'bn1.')
              .replace('conv2.1.conv.', 'conv2.1.').replace('conv2.1.bns.0.', 'bn2.'))
      k = f'blocks.{int(s) - 1}.{rest}'
    sd[k] = v.numpy()
  other = convert_resnet26.to_flax(sd)
  jax.tree.map(np.testing.assert_array_equal, other, variables)


def test_a_foreign_state_dict_is_refused_naming_the_keys():
  ref, _, _ = _pair()
  sd = {k: v.numpy() for k, v in ref.state_dict().items()}
  sd['layer1.0.conv1.parallel_conv.0.conv.weight'] = np.zeros((64, 32, 1, 1))
  del sd['layer3.3.conv2.1.bns.0.running_var']
  with pytest.raises(ValueError, match=r'(?s)parallel_conv.*layer3_3/conv2/bn/var'):
    convert_resnet26.to_flax(sd)


def test_training_mode_uses_batch_statistics_like_torch():
  ref, model, variables = _pair(num_classes=6, width=8, seed=2)
  ref.train()
  x = np.random.RandomState(1).randn(4, 3, 32, 32).astype(np.float32)
  with torch.no_grad():
    want = ref(torch.from_numpy(x)).numpy()
  (got, _), _ = model.apply(variables, jnp.asarray(x.transpose(0, 2, 3, 1)), train=True,
                            mutable=['batch_stats'])
  err = np.max(np.abs(np.asarray(got) - want)) / np.max(np.abs(want))
  assert err <= 1e-4, err


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_NO_TORCH = r"""
import sys
sys.modules['torch'] = None  # any import of torch now fails
from absl import app
from adafilter_jax.weights import convert_resnet26
sys.argv = ['convert_resnet26'] + sys.argv[1:]
app.run(convert_resnet26.main)
"""


def test_command_without_torch_names_the_missing_file_first_then_torch(tmp_path):
  """Each one line: a file that is not there, then (the file there) torch to read it."""
  missing, there = tmp_path / 'resnet26_imagenet.pth', tmp_path / 'there.pth'
  there.write_bytes(b'not read')
  for src, message in ((missing, f'error: {missing}: no such file'),
                       (there, 'error: converting .pth files needs torch')):
    proc = subprocess.run([sys.executable, '-c', _NO_TORCH, str(src), str(tmp_path / 'out')],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu'})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and lines[0].startswith(message) and len(lines) == 2, (
        proc.returncode, proc.stderr[-2000:])
    assert not (tmp_path / 'out').exists()
