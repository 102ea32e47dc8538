"""A user's own model's weights, for AdaFilter's form of that model (models/transform.py;
docs/own_model.md): read from an orbax checkpoint directory, a flax msgpack file or a
safetensors file, each holding the variables dict `model.init` gives (``{'params': ...,
'batch_stats': ...}``), and put into the gated model: F, BN_ft and the rest of the
network as they are, S and BN_pre copied from them (`transform.with_copies`, the one
rule), the gate and any `fresh` subtree (a new head) as initialised.
"""
import os
from typing import Sequence

import flax
import numpy as np
import orbax.checkpoint as ocp

from adafilter_jax.models import transform

FORMATS = 'an orbax checkpoint directory, a .msgpack file or a .safetensors file'
_SHOWN = 10


def read(path: str) -> dict:
  """The variables dict saved at `path` (FORMATS). safetensors keys are the dict's paths
  joined by '/' ('params/Conv_0/kernel')."""
  if os.path.isdir(path):
    with ocp.StandardCheckpointer() as ckptr:
      tree = ckptr.restore(os.path.abspath(path))
  elif path.endswith('.msgpack') and os.path.isfile(path):
    with open(path, 'rb') as f:
      tree = flax.serialization.msgpack_restore(f.read())
  elif path.endswith('.safetensors') and os.path.isfile(path):
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    tree = flax.traverse_util.unflatten_dict(load_file(path), sep='/')
  else:
    raise FileNotFoundError(f'no model weights at {path}: expected {FORMATS}')
  if 'params' not in tree:
    raise ValueError(f'{path}: no "params" collection (top-level keys {sorted(tree)}): save '
                     f'the whole variables dict that model.init returns')
  return dict(tree)


def into(variables: dict, user: dict, plan: transform.Plan, fresh: Sequence[str] = ()) -> dict:
  """`variables` (the gated model's init) with every leaf of `user` at its own path, except
  under a `fresh` prefix ('Dense_0': a new head), then S and BN_pre copied from F and BN_ft.
  Raises ValueError listing the leaves that have no place or another shape, and the
  network's leaves the user's weights lack."""
  copies = [dst for dst, _ in transform.copies(plan)]
  skip = [tuple(p.split('/')) for p in fresh] + [('gate',)] + copies
  out, problems = {}, []
  for col, tree in variables.items():
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))
    mine = flax.traverse_util.flatten_dict(dict(user.get(col, {})))
    for key, value in mine.items():
      name = f'{col}/{"/".join(key)}'
      if any(key[:len(s)] == s for s in skip):
        continue
      if key not in flat:
        problems.append(f'not in the model: {name}')
      elif np.shape(value) != np.shape(flat[key]):
        problems.append(f'shape mismatch: {name}: model {np.shape(flat[key])} vs weights '
                        f'{np.shape(value)} (a new head? name it in fresh)')
      else:
        flat[key] = np.asarray(value, np.asarray(flat[key]).dtype)
    problems += [f'missing in the weights: {col}/{"/".join(k)}' for k in flat
                 if k not in mine and not any(k[:len(s)] == s for s in skip)]
    out[col] = flax.traverse_util.unflatten_dict(flat)
  if problems:
    more = [f'... and {len(problems) - _SHOWN} more'] if len(problems) > _SHOWN else []
    raise ValueError(f'the weights do not fit the model ({len(problems)} problems):\n  '
                     + '\n  '.join(problems[:_SHOWN] + more))
  return transform.with_copies(out, plan)
