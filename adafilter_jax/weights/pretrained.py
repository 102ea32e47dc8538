"""Pretrained weights: resolve ``config.pretrained`` (a directory or a Hub spec), load
them, and put them into a model.

The on-disk format (store.py) is an orbax checkpoint of ``{'params', 'batch_stats'}`` of
a *plain* torchvision-layout ResNet (resnet.py), whatever wrote it: the converters, the
first use of a Hub spec, or the demo's source-task pretraining. `transfer` maps it into
any model of this project:

- a plain ResNet: leaf for leaf;
- AdaFilter (models/transform.py): F ``<unit>/conv`` and S ``<unit>/conv_pre`` both from
  ``<unit>/conv`` (F = S = pretrained), ``bn``/``bn_pre`` (or the single ``bn`` of the
  Eq. 6 ablation) from ``bn``;
- SpotTune: both copies ``<block>/block_ft`` and ``<block>/block_pre`` from ``<block>``;
- a kept head of the pretraining task, ``source_fc`` (Co-Tuning's), from its ``fc``;
- the new head ``fc`` and the gate keep their fresh initialisation, except a subtree
  given its own weights in `parts` (the CNN gate's ResNet trunk, ``gate/trunk``: a
  method's `pretrained_parts`).
"""
import dataclasses
import json
import os
import re
import shutil
from typing import Mapping, Optional, Tuple

import flax
import numpy as np

from adafilter_jax.weights import convert
from adafilter_jax.weights import hub
from adafilter_jax.weights import store

Variables = store.Variables
HUB_ROOT = os.path.join('weights', 'hf-hub')  # beside the configs' weights/resnet50
SOURCE = 'source.json'  # what a Hub conversion was made from: spec, commit, SHA-256

# A branch of a gated unit -> the plain unit's module it starts from.
_BRANCH = re.compile(r'^(conv|bn)_pre$')
_BLOCK_COPY = ('block_ft', 'block_pre')  # SpotTune's two copies of a residual block
_FRESH = ('fc', 'gate')  # new for the target task
_SOURCE_HEAD = 'source_fc'  # the pretraining task's own head, kept beside the new one
_SHOWN = 20  # problems listed: weights of another ResNet have hundreds


save = store.save  # the format's writer, where the rest of the package has always found it


def load(spec: str, arch: Optional[str] = None) -> Variables:
  """The weights `spec` names: a directory written by `save` (or the converters), or a
  Hub spec, ``hf-hub:timm/resnet50.tv_in1k``, converted once on first use into
  ``weights/hf-hub/<owner>--<name>`` (`converted`). Every run resolves
  ``config.pretrained`` here. `arch` (the model's) must agree with a Hub repo's name."""
  if hub.is_hub(spec):
    return store.read(converted(spec, arch))
  path = os.path.abspath(spec)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f'no pretrained weights at {path}. Name torchvision\'s ImageNet ResNet-50 on the '
        f'Hugging Face Hub instead (config.pretrained=hf-hub:timm/resnet50.tv_in1k, no torch), '
        f'or convert it first (see weights/README.md):\n'
        f'  python -m adafilter_jax.weights.convert hf-hub:timm/resnet50.tv_in1k {path}')
  return store.read(path)


def converted_dir(spec: str, root: str = HUB_ROOT) -> str:
  repo_id, revision = hub.parse(spec)
  return os.path.join(root, repo_id.replace('/', '--') + (f'@{revision}' if revision else ''))


def converted(spec: str, arch: Optional[str] = None, root: str = HUB_ROOT) -> str:
  """The checkpoint directory of a Hub spec's weights, fetched (hub.py: SHA-256 checked)
  and converted on first use; later runs read it without asking the Hub. The result is
  renamed into place whole, so concurrent first uses (several processes) leave one."""
  arch = hub.arch(spec, arch)  # a mismatch stops here, before anything is fetched
  path = converted_dir(spec, root)
  if not os.path.isfile(os.path.join(path, SOURCE)):
    variables, fetched, arch = convert.from_hub(spec, arch)
    tmp = f'{path}.tmp-{os.getpid()}'
    store.save(variables, os.path.join(tmp, 'variables'))
    with open(os.path.join(tmp, SOURCE), 'w') as f:
      json.dump({'spec': spec, 'arch': arch, **dataclasses.asdict(fetched)}, f, indent=1)
    try:
      os.rename(tmp, path)
    except OSError:  # another process got there first
      shutil.rmtree(tmp)
  return os.path.join(path, 'variables')


def source_path(path: Tuple[str, ...]) -> Optional[Tuple[str, ...]]:
  """Where a model's leaf comes from in a plain ResNet, or None if it starts fresh."""
  if path[0] in _FRESH:
    return None
  if path[0] == _SOURCE_HEAD:
    return ('fc',) + path[1:]
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
