"""The converter against an independent torch ResNet with torchvision's state_dict."""
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from adafilter_jax import models
from adafilter_jax.weights import convert
from adafilter_jax.weights import pretrained
from tests.models import conversion
from tests.models.torch_resnet import torch_resnet


def _compare(arch, width, size, tol):
  net = torch_resnet(arch, num_classes=10, width=width)
  sd = {k: v.numpy() for k, v in net.state_dict().items()}
  variables = convert.torchvision_to_flax(sd, arch) if width == 64 else None
  if variables is None:  # the converter checks shapes against width 64; map directly
    variables = conversion.convert_unchecked(sd)
  x = np.random.RandomState(0).randn(2, 3, size, size).astype(np.float32)
  with torch.no_grad():
    ref_logits, ref_acts = net(torch.from_numpy(x))
  model = models.backbone(arch, 10, width=width)
  (logits, gates), state = model.apply(variables, jnp.asarray(x.transpose(0, 2, 3, 1)),
                                       mutable=['intermediates'])
  assert gates == {}
  acts = {k: v[0] for k, v in state['intermediates'].items()}
  for name, ref in ref_acts.items():  # a mismatch points at its stage
    assert conversion.rel_err(acts[name], ref.numpy().transpose(0, 2, 3, 1)) <= tol, name
  assert conversion.rel_err(logits, ref_logits.numpy()) <= tol


def test_resnet50_matches_torchvision_layout():
  _compare('resnet50', 64, 64, 1e-4)


def test_resnet18_matches_torchvision_layout():
  _compare('resnet18', 64, 64, 1e-4)


@pytest.mark.parametrize('arch', ['resnet34', 'resnet101'])
def test_tiny_variants_match(arch):
  _compare(arch, 8, 32, 1e-4)


def test_mapping_table():
  assert convert.flax_key('conv1.weight') == ('params', ('conv1', 'conv', 'kernel'))
  assert convert.flax_key('bn1.running_var') == ('batch_stats', ('conv1', 'bn', 'var'))
  assert convert.flax_key('layer3.5.bn2.weight') == ('params', ('layer3_5', 'conv2', 'bn', 'scale'))
  assert convert.flax_key('layer2.0.downsample.0.weight') == (
      'params', ('layer2_0', 'downsample', 'conv', 'kernel'))
  assert convert.flax_key('layer2.0.downsample.1.running_mean') == (
      'batch_stats', ('layer2_0', 'downsample', 'bn', 'mean'))
  assert convert.flax_key('fc.weight') == ('params', ('fc', 'kernel'))
  with pytest.raises(KeyError):
    convert.flax_key('layer1.0.se.fc1.weight')


def test_bad_state_dict_lists_every_problem():
  sd = {k: v.numpy() for k, v in torch_resnet('resnet18', 10).state_dict().items()}
  del sd['layer1.0.bn1.running_mean']
  sd['layer2.0.conv1.weight'] = sd['layer2.0.conv1.weight'][:, :3]
  sd['extra.weight'] = np.zeros(3, np.float32)
  with pytest.raises(ValueError) as e:
    convert.torchvision_to_flax(sd, 'resnet18')
  msg = str(e.value)
  assert 'missing: batch_stats/layer1_0/conv1/bn/mean' in msg
  assert 'shape mismatch: params/layer2_0/conv1/conv/kernel' in msg
  assert 'unexpected key: extra.weight' in msg
  with pytest.raises(ValueError, match='resnet50'):
    convert.torchvision_to_flax({k: v for k, v in sd.items() if k != 'extra.weight'}, 'resnet50')


def test_cli_roundtrip_through_orbax(tmp_path):
  net = torch_resnet('resnet18', 10)
  src = tmp_path / 'r18.pth'
  torch.save(net.state_dict(), src)
  dst = tmp_path / 'r18'
  out = subprocess.run([sys.executable, '-m', 'adafilter_jax.weights.convert', str(src), str(dst),
                        '--arch', 'resnet18'], capture_output=True, text=True, check=True)
  assert 'wrote resnet18' in out.stdout
  back = pretrained.load(str(dst))
  want = convert.torchvision_to_flax({k: v.numpy() for k, v in net.state_dict().items()},
                                     'resnet18')
  jax.tree_util.tree_map(np.testing.assert_array_equal, back, want)


def test_missing_weights_error_says_how_to_convert(tmp_path):
  with pytest.raises(FileNotFoundError, match='python -m adafilter_jax.weights.convert'):
    pretrained.load(str(tmp_path / 'nothing'))
