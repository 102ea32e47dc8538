"""torchvision state_dicts into Flax variables for the parity tests, at any width (the
converter itself checks shapes against torchvision's width 64), and the error measure."""
import numpy as np

from adafilter_jax.weights import convert


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
