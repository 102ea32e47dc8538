"""The on-disk format of converted weights: an orbax checkpoint of ``{'params',
'batch_stats'}`` of a plain ResNet, whoever wrote it (the converters, the Hub's
first-use conversion, the demo's source-task pretraining)."""
import os
from typing import Any, Dict

import jax
import orbax.checkpoint as ocp

Variables = Dict[str, Any]
COLLECTIONS = ('params', 'batch_stats')


def save(variables: Variables, path: str) -> str:
  """Writes ``{'params', 'batch_stats'}`` as an orbax checkpoint at `path` (a directory)."""
  path = os.path.abspath(path)
  tree = {k: jax.device_get(variables[k]) for k in COLLECTIONS}
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, tree, force=True)
  return path


def read(path: str) -> Variables:
  """Reads a checkpoint written by `save`; `path` must be an existing directory."""
  with ocp.StandardCheckpointer() as ckptr:
    tree = ckptr.restore(os.path.abspath(path))
  missing = set(COLLECTIONS) - set(tree)
  if missing:
    raise ValueError(f'{path} is not a converted ResNet checkpoint: no {sorted(missing)}')
  return {k: tree[k] for k in COLLECTIONS}
