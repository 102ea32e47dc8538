"""torchvision state_dicts into Flax variables for the parity tests, at any width (the
converter itself checks shapes against torchvision's width 64), the error measure, and a
torchvision-keyed ResNet-18 state_dict for the converters' tests."""
import numpy as np
import torch

from adafilter_jax.weights import convert
from tests.models.torch_resnet import torch_resnet


def resnet18_state_dict():
  """A seeded torchvision ResNet-18 (10 classes) state_dict, with non-trivial BN
  statistics, so that a swapped mean / var shows."""
  torch.manual_seed(0)
  net = torch_resnet('resnet18', 10)
  for m in net.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
      m.running_mean.uniform_(-1, 1)
      m.running_var.uniform_(0.5, 2)
  return net.state_dict()


def rel_err(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def convert_unchecked(sd):
  out = {'params': {}, 'batch_stats': {}}
  for k, v in sd.items():
    if k.endswith('num_batches_tracked'):
      continue
    col, path = convert.flax_key(k)
    node = out[col]
    for p in path[:-1]:
      node = node.setdefault(p, {})
    node[path[-1]] = convert._to_flax_layout(path, v)
  return out
