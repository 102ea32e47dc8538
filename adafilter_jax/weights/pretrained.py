"""Pretrained weights: save/load the converter's checkpoints and put them into a model.

The on-disk format is an orbax checkpoint of ``{'params', 'batch_stats'}`` of a *plain*
torchvision-layout ResNet (resnet.py), whatever wrote it: the converter (convert.py) or
the demo's source-task pretraining. `transfer` maps it into any model of this project:

- a plain ResNet: leaf for leaf;
- AdaFilter: ``<unit>/conv_ft`` and ``<unit>/conv_pre`` both from ``<unit>/conv`` (F = S =
  pretrained), ``bn_ft``/``bn_pre`` (or the single ``bn`` of the Eq. 6 ablation) from ``bn``;
- SpotTune: both copies ``<block>/block_ft`` and ``<block>/block_pre`` from ``<block>``;
- the new head ``fc`` and the gate keep their fresh initialisation, except a subtree
  given its own weights in `parts` (the CNN gate's ResNet trunk, ``gate/trunk``: a
  method's `pretrained_parts`).
"""
import os
import re
from typing import Any, Dict, Mapping, Optional, Tuple

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp

Variables = Dict[str, Any]

# A branch of a gated unit -> the plain unit's module it starts from.
_BRANCH = re.compile(r'^(conv|bn)_(ft|pre)$')
_BLOCK_COPY = ('block_ft', 'block_pre')  # SpotTune's two copies of a residual block
_FRESH = ('fc', 'gate')  # new for the target task
_SHOWN = 20  # problems listed: weights of another ResNet have hundreds


def save(variables: Variables, path: str) -> str:
  """Writes ``{'params', 'batch_stats'}`` as an orbax checkpoint at `path` (a directory)."""
  path = os.path.abspath(path)
  tree = {k: jax.device_get(variables[k]) for k in ('params', 'batch_stats')}
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, tree, force=True)
  return path


def load(path: str) -> Variables:
  """Reads a checkpoint written by `save` (or `python -m adafilter_jax.weights.convert`)."""
  path = os.path.abspath(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f'no pretrained weights at {path}. Convert torchvision\'s ImageNet ResNet-50 '
        f'first (see weights/README.md):\n'
        f'  python -m adafilter_jax.weights.convert weights/resnet50-19c8e357.pth {path} '
        f'--arch resnet50')
  with ocp.StandardCheckpointer() as ckptr:
    tree = ckptr.restore(path)
  missing = {'params', 'batch_stats'} - set(tree)
  if missing:
    raise ValueError(f'{path} is not a converted ResNet checkpoint: no {sorted(missing)}')
  return {k: tree[k] for k in ('params', 'batch_stats')}


def source_path(path: Tuple[str, ...]) -> Optional[Tuple[str, ...]]:
  """Where a model's leaf comes from in a plain ResNet, or None if it starts fresh."""
  if path[0] in _FRESH:
    return None
  return tuple(_BRANCH.sub(r'\1', p) for p in path if p not in _BLOCK_COPY)


def _source(path, src, part_tables):
  """(table, key, tag) a model leaf is read from; key None: it starts fresh."""
  for prefix, table in part_tables.items():
    if path[:len(prefix)] == prefix:
      return table, path[len(prefix):], '/'.join(prefix)
  return src, source_path(path), 'pretrained'


def transfer(pretrained: Variables, variables: Variables,
             parts: Optional[Mapping[str, Variables]] = None) -> Variables:
  """Returns `variables` with every backbone leaf taken from `pretrained`, and each
  subtree named in `parts` ('gate/trunk') from its own plain-ResNet weights.

  Raises ValueError listing, in the model's order, the leaves of the model that have no
  counterpart or one of another shape, then the pretrained leaves nothing used (weights
  of another architecture or width); the first _SHOWN of them, the first one first.
  """
  out, problems, used = {}, [], set()
  for col in ('params', 'batch_stats'):
    src = flax.traverse_util.flatten_dict(pretrained.get(col, {}))
    part_tables = {tuple(prefix.split('/')): flax.traverse_util.flatten_dict(p.get(col, {}))
                   for prefix, p in (parts or {}).items()}
    flat = flax.traverse_util.flatten_dict(variables.get(col, {}))
    for path, value in flat.items():
      table, key, tag = _source(path, src, part_tables)
      if key is None:
        continue
      name = f'{col}/{"/".join(path)}'
      if key not in table:
        problems.append(f'missing in {tag}: {name} (from {tag} {"/".join(key)})')
      elif np.shape(table[key]) != np.shape(value):
        problems.append(f'shape mismatch: {name}: model {np.shape(value)} vs {tag} '
                        f'{np.shape(table[key])}')
      else:
        flat[path] = np.asarray(table[key], dtype=np.asarray(value).dtype)
        if tag == 'pretrained':
          used.add((col,) + key)
    out[col] = flax.traverse_util.unflatten_dict(flat)
  unused = [f'{c}/{"/".join(k)}' for c in ('params', 'batch_stats')
            for k in flax.traverse_util.flatten_dict(pretrained.get(c, {}))
            if (c,) + k not in used and k[0] not in _FRESH]
  problems += [f'unused pretrained weight: {u}' for u in unused]
  if problems:
    more = [f'... and {len(problems) - _SHOWN} more'] if len(problems) > _SHOWN else []
    raise ValueError(f'pretrained weights do not fit the model ({len(problems)} problems):\n  '
                     + '\n  '.join(problems[:_SHOWN] + more))
  return {**variables, **out}
