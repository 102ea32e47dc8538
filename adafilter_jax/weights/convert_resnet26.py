r"""Converts the Decathlon ResNet-26's ImageNet weights (a torch ``state_dict``) into this
project's format (models/resnet26.py), like convert.py does for torchvision's ResNets.

  python -m adafilter_jax.weights.convert_resnet26 weights/resnet26_imagenet.pth weights/resnet26

Two naming schemes of the official code are read (nb_tasks = 1):

  srebuffi/residual_adapters models.py     gyhui14/spottune spottune_models.py   flax
  pre_layers_conv.conv.weight              conv1.weight                          conv1/conv/kernel
  pre_layers_conv.bns.0.*                  bn1.*                                 conv1/bn/*
  layer2.1.conv1.conv.weight               blocks.1.1.conv1.weight               layer2_1/conv1/conv/kernel
  layer2.1.conv1.bns.0.*                   blocks.1.1.bn1.*                      layer2_1/conv1/bn/*
  layer2.1.conv2.1.conv.weight             blocks.1.1.conv2.1.weight             layer2_1/conv2/conv/kernel
  layer2.1.conv2.1.bns.0.*                 blocks.1.1.bn2.*                      layer2_1/conv2/bn/*
  end_bns.0.0.*                            bn2.0.*                               head_bn/*
  linears.0.{weight,bias}                  linear.{weight,bias}                  fc/{kernel,bias}

(``layerN`` is 1-based, ``blocks.N`` 0-based.) The official ``resnet26_pretrained.t7`` is
a whole pickled module, not a state_dict; docs/decathlon.md shows the two lines that
turn it into one. SpotTune's ``parallel_blocks`` (its fine-tuned copies) are refused:
a pretrained checkpoint has none.
"""
import re
import sys
from typing import Dict, Mapping, Tuple

import jax
import numpy as np
from absl import app

from adafilter_jax.data import cli_errors
from adafilter_jax.weights import convert
from adafilter_jax.weights import pretrained
from adafilter_jax.models import resnet26 as resnet26_lib

_BN = {'weight': ('params', 'scale'), 'bias': ('params', 'bias'),
       'running_mean': ('batch_stats', 'mean'), 'running_var': ('batch_stats', 'var')}
# Each: a regex with named groups -> (flax unit path, is_conv).
_RULES = (
    (r'pre_layers_conv\.(?P<conv>conv)\.(?P<leaf>\w+)', ('conv1',)),
    (r'pre_layers_conv\.bns\.0\.(?P<leaf>\w+)', ('conv1',)),
    (r'layer(?P<s1>\d+)\.(?P<b>\d+)\.conv1\.(?P<conv>conv)\.(?P<leaf>\w+)', ('conv1',)),
    (r'layer(?P<s1>\d+)\.(?P<b>\d+)\.conv1\.bns\.0\.(?P<leaf>\w+)', ('conv1',)),
    (r'layer(?P<s1>\d+)\.(?P<b>\d+)\.conv2\.1\.(?P<conv>conv)\.(?P<leaf>\w+)', ('conv2',)),
    (r'layer(?P<s1>\d+)\.(?P<b>\d+)\.conv2\.1\.bns\.0\.(?P<leaf>\w+)', ('conv2',)),
    (r'end_bns\.0\.0\.(?P<leaf>\w+)', ('head_bn',)),
    (r'(?P<conv>conv)1\.(?P<leaf>\w+)', ('conv1',)),
    (r'bn1\.(?P<leaf>\w+)', ('conv1',)),
    (r'blocks\.(?P<s0>\d+)\.(?P<b>\d+)\.(?P<conv>conv)1\.(?P<leaf>\w+)', ('conv1',)),
    (r'blocks\.(?P<s0>\d+)\.(?P<b>\d+)\.bn1\.(?P<leaf>\w+)', ('conv1',)),
    (r'blocks\.(?P<s0>\d+)\.(?P<b>\d+)\.(?P<conv>conv)2\.1\.(?P<leaf>\w+)', ('conv2',)),
    (r'blocks\.(?P<s0>\d+)\.(?P<b>\d+)\.bn2\.(?P<leaf>\w+)', ('conv2',)),
    (r'bn2\.0\.(?P<leaf>\w+)', ('head_bn',)),
)
_RULES = tuple((re.compile(f'^{pattern}$'), unit) for pattern, unit in _RULES)
_HEAD = {'linears.0.weight': 'kernel', 'linears.0.bias': 'bias',
         'linear.weight': 'kernel', 'linear.bias': 'bias'}


def flax_key(key: str) -> Tuple[str, Tuple[str, ...]]:
  """(collection, path) of an official ResNet-26 state_dict key; KeyError if unknown."""
  if key in _HEAD:
    return 'params', ('fc', _HEAD[key])
  for pattern, unit in _RULES:
    m = pattern.match(key)
    if not m:
      continue
    groups = m.groupdict()
    stage = int(groups['s1']) if groups.get('s1') else (
        int(groups['s0']) + 1 if groups.get('s0') else None)
    prefix = (f'layer{stage}_{groups["b"]}',) if stage is not None else ()
    leaf = groups['leaf']
    if groups.get('conv'):
      if leaf != 'weight':
        raise KeyError(key)
      return 'params', prefix + unit + ('conv', 'kernel')
    if leaf not in _BN:
      raise KeyError(key)
    col, name = _BN[leaf]
    return col, prefix + unit + (() if unit == ('head_bn',) else ('bn',)) + (name,)
  raise KeyError(key)


def to_flax(state_dict: Mapping[str, np.ndarray]) -> Dict[str, dict]:
  """The official ResNet-26 state_dict -> ``resnet26``'s variables, checked leaf by leaf
  (every key placed, every leaf filled, shapes equal; else one ValueError listing all)."""
  flat, unexpected = convert.flatten(state_dict, flax_key)
  head = flat['params'].get(('fc', 'bias'))
  stem = flat['params'].get(('conv1', 'conv', 'kernel'))
  model = resnet26_lib.resnet26(
      num_classes=1000 if head is None else head.shape[0],
      width=32 if stem is None else stem.shape[-1])
  return convert.checked(flat, unexpected, model, 'resnet26')


def main(argv):
  if len(argv) != 3:
    raise app.UsageError('usage: python -m adafilter_jax.weights.convert_resnet26 SRC.pth DST')
  src, dst = argv[1:]
  try:  # the file is checked first, then torch to read it
    variables = to_flax(convert.load_state_dict(src))
  except convert.ERRORS as e:
    sys.exit(cli_errors.report(e))
  out = pretrained.save(variables, dst)
  n = sum(np.size(x) for x in jax.tree_util.tree_leaves(variables['params']))
  print(f'wrote resnet26 ({n:,} params) to {out}')


if __name__ == '__main__':
  app.run(main)
