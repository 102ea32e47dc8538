"""The project's ResNet-50 through the transform (models/transform.py) against the
current gated ResNet (models/adafilter.py) on the same variables, and both against a
torch reference that mixes F's and S's units with the same decisions."""
import flax
import jax
import jax.numpy as jnp
import numpy as np
import torch

from adafilter_jax.models import adafilter as adafilter_models
from adafilter_jax.models import transform
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


def test_resnet50_through_the_transform_equals_the_gated_resnet_and_torch():
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

  # The current gated ResNet: S, BN_pre from net_s; F, BN_ft from net_f; a fresh gate.
  old = tiny.adafilter('resnet50', 10, width=WIDTH)
  old_vars = pretrained.transfer(convert(net_s), jax.device_get(old.init(
      {'params': jax.random.key(1)}, x)))
  f = convert(net_f)
  flat_f = {c: flax.traverse_util.flatten_dict(f[c]) for c in f}
  for col in ('params', 'batch_stats'):
    flat = flax.traverse_util.flatten_dict(old_vars[col])
    for key in flat:
      if any(p in ('conv_ft', 'bn_ft') for p in key) or key[0] == 'fc':
        flat[key] = flat_f[col][tuple(p.replace('_ft', '') for p in key)]
    old_vars[col] = flax.traverse_util.unflatten_dict(flat)
  old_logits, old_decisions = old.apply(old_vars, x)

  # The same network through the transform: the plain ResNet, its variables renamed once.
  block = tiny.adafilter_block()
  new = transform.gate(tiny.resnet('resnet50', 10, width=WIDTH), x,
                       gate=adafilter_models.gate_def(block, {}))
  new_vars = adafilter_models.from_gated_resnet(old_vars)
  init = jax.eval_shape(lambda: new.init({'params': jax.random.key(1)}, x))
  assert jax.tree.map(jnp.shape, new_vars) == jax.tree.map(lambda a: a.shape, init)
  (new_logits, _), new_decisions = new.apply(new_vars, x)

  assert list(new_decisions) == list(old_decisions)  # 53 layers, the same names and order
  for name in old_decisions:
    np.testing.assert_array_equal(new_decisions[name], old_decisions[name])
  frac = np.mean([float(g.mean()) for g in new_decisions.values()])
  assert 0.2 < frac < 0.8  # the gate mixes both branches
  np.testing.assert_allclose(new_logits, old_logits, rtol=1e-5, atol=1e-5)
  ref = _torch_gated(net_f, net_s, torch.from_numpy(x_np), new_decisions)
  assert conversion.rel_err(new_logits, ref) <= 1e-4


def test_the_gate_starts_as_the_gated_resnets():
  """Same gate parameter paths and initialisation keys: the demo's numbers stay."""
  x = jnp.zeros((1, 32, 32, 3))
  old = tiny.adafilter('resnet18', 5, width=8)
  new = transform.gate(tiny.resnet('resnet18', 5, width=8), x,
                       gate=adafilter_models.gate_def(tiny.adafilter_block(), {}))
  rngs = {'params': jax.random.key(0)}
  old_gate = old.init(rngs, x)['params']['gate']
  new_vars = new.init(rngs, x)
  jax.tree.map(np.testing.assert_array_equal, new_vars['params']['gate'], old_gate)
  np.testing.assert_array_equal(new_vars['params']['fc']['kernel'],
                                old.init(rngs, x)['params']['fc']['kernel'])
