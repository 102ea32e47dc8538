"""The project's ResNet-50 through the transform (models/transform.py), as the method
builds it (models/adafilter.py), against a torch reference that mixes F's and S's units
with the same decisions; with and without remat."""
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from adafilter_jax.models import adafilter as adafilter_models
from adafilter_jax.weights import pretrained
from tests.models import conversion
from tests.models import tiny
from tests.models.torch_resnet import torch_resnet

WIDTH = 16  # the shapes of test_adafilter.py's reductions: their compiles are shared


def _torch_gated(net_f, net_s, x, decisions):
  """torchvision's Bottleneck ResNet, every conv+BN unit a select per example and
  channel between F's unit (net_f) and S's (net_s): Eq. 5 written in torch."""
  def unit(name, f_conv, f_bn, s_conv, s_bn, h):
    g = torch.from_numpy(np.array(decisions[name]))[:, :, None, None] > 0
    return torch.where(g, f_bn(f_conv(h)), s_bn(s_conv(h)))

  with torch.no_grad():
    h = torch.relu(unit('conv1', net_f.conv1, net_f.bn1, net_s.conv1, net_s.bn1, x))
    h = net_f.maxpool(h)
    for n in range(1, 5):
      for j, (bf, bs) in enumerate(zip(getattr(net_f, f'layer{n}'), getattr(net_s, f'layer{n}'))):
        p = f'layer{n}_{j}/'
        y = torch.relu(unit(p + 'conv1', bf.conv1, bf.bn1, bs.conv1, bs.bn1, h))
        y = torch.relu(unit(p + 'conv2', bf.conv2, bf.bn2, bs.conv2, bs.bn2, y))
        y = unit(p + 'conv3', bf.conv3, bf.bn3, bs.conv3, bs.bn3, y)
        if bf.downsample is not None:
          h = unit(p + 'downsample', bf.downsample[0], bf.downsample[1], bs.downsample[0],
                   bs.downsample[1], h)
        h = torch.relu(y + h)
    return net_f.fc(torch.flatten(net_f.avgpool(h), 1)).numpy()


def _with_f(variables, f):
  """`variables` with F and BN_ft (a gated unit's ``conv`` and ``bn``) and the head
  taken from `f`, a plain ResNet's variables; S and BN_pre (``*_pre``) left as they are."""
  out = {}
  for col in ('params', 'batch_stats'):
    flat, flat_f = (flax.traverse_util.flatten_dict(t[col]) for t in (variables, f))
    for key in flat:
      if key in flat_f and key[0] != 'gate':
        flat[key] = flat_f[key]
    out[col] = flax.traverse_util.unflatten_dict(flat)
  return out


@pytest.mark.parametrize('remat', [False, True])
def test_resnet50_through_the_transform_equals_torch(remat):
  net_s = torch_resnet('resnet50', 10, width=WIDTH, seed=0)
  net_f = torch_resnet('resnet50', 10, width=WIDTH, seed=0)
  with torch.no_grad():  # F: other filters and another BN_ft than S and BN_pre
    for m in net_f.modules():
      if isinstance(m, torch.nn.Conv2d):
        m.weight.mul_(1.5)
      elif isinstance(m, torch.nn.BatchNorm2d):
        m.weight.mul_(1.2)
  convert = lambda net: conversion.convert_unchecked(
      {k: v.numpy() for k, v in net.state_dict().items()})
  x_np = np.random.RandomState(0).randn(4, 3, 64, 64).astype(np.float32)
  x = jnp.asarray(x_np.transpose(0, 2, 3, 1))

  # AdaFilter's ResNet-50 as the method builds it: S, BN_pre from net_s; F, BN_ft from
  # net_f; a fresh gate.
  model = tiny.adafilter('resnet50', 10, width=WIDTH, remat=remat)
  init = jax.device_get(model.init({'params': jax.random.key(1)}, x))
  variables = _with_f(pretrained.transfer(convert(net_s), init), convert(net_f))
  logits, decisions = model.apply(variables, x)

  assert len(decisions) == 53 and list(decisions)[:2] == ['conv1', 'layer1_0/conv1']
  frac = np.mean([float(g.mean()) for g in decisions.values()])
  assert 0.2 < frac < 0.8  # the gate mixes both branches
  ref = _torch_gated(net_f, net_s, torch.from_numpy(x_np), decisions)
  assert conversion.rel_err(logits, ref) <= 1e-4


def test_variables_of_a_run_before_the_transform_are_renamed_once():
  """A run saved by the gated ResNet named F and BN_ft ``conv_ft`` and ``bn_ft``: the
  rename maps exactly those, and the model applies to the result."""
  model = tiny.adafilter('resnet18', 5, width=8)
  x = jnp.zeros((1, 32, 32, 3))
  now = jax.device_get(model.init({'params': jax.random.key(0)}, x))
  gated_units = {key[:-2] for key in flax.traverse_util.flatten_dict(now['params'])
                 if key[-2] == 'conv_pre'}
  old = {}  # the old names, written by hand
  for col, tree in now.items():
    flat = flax.traverse_util.flatten_dict(tree)
    old[col] = flax.traverse_util.unflatten_dict({
        (k[:-2] + (k[-2] + '_ft',) + k[-1:] if k[:-2] in gated_units and k[-2] in ('conv', 'bn')
         else k): v for k, v in flat.items()})
  assert 'conv_ft' in old['params']['layer1_0']['conv1']
  renamed = adafilter_models.from_gated_resnet(old)
  assert jax.tree.map(np.shape, renamed) == jax.tree.map(np.shape, now)
  jax.tree.map(np.testing.assert_array_equal, renamed, now)
