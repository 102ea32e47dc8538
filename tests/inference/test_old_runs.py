"""A run directory written before AdaFilter became a transform of the plain network (a
gated unit's F and BN_ft then named ``conv_ft`` and ``bn_ft``) still restores, for
evaluation, prediction and export alike (inference/restore.py), and for a resumed run
(the same `Checkpoints.restore`)."""
import os
import shutil

import jax
import numpy as np

from adafilter_jax.inference import restore as inference
from adafilter_jax.train import checkpoint as checkpoint_lib


def _old_names(tree, gated, modules, path=()):
  """`tree` with F and BN_ft of every unit in `gated` (paths of units that hold a
  ``conv_pre``) under the gated ResNet's names, wherever the unit's dict appears
  (params, batch_stats, each optimizer state); `modules`: the model's top-level modules,
  so that the stem ``conv1`` is not taken for a block's ``layer1_0/conv1``."""
  if isinstance(tree, (list, tuple)):  # a state restored as saved: lists for tuples
    return type(tree)(_old_names(v, gated, modules, path + (str(i),))
                      for i, v in enumerate(tree))
  if not isinstance(tree, dict):
    return tree
  out = {k: _old_names(v, gated, modules, path + (k,)) for k, v in tree.items()}
  unit = next((u for u in gated if path[-len(u):] == u
               and path[-len(u) - 1:-len(u)] not in [(m,) for m in modules]), None)
  if unit is not None:
    for now, old in (('conv', 'conv_ft'), ('bn', 'bn_ft')):
      if now in out and now in gated[unit]:
        out[old] = out.pop(now)
  return out


def _gated_units(params, path=()):
  """{unit path: the names it renames}: every dict holding a ``conv_pre``."""
  found = {}
  if 'conv_pre' in params:
    found[path] = {n for n in ('conv', 'bn') if n + '_pre' in params}
  for k, v in params.items():
    if isinstance(v, dict):
      found.update(_gated_units(v, path + (k,)))
  return found


def test_a_run_saved_before_the_transform_restores(adafilter_run, tmp_path):
  workdir, _, _ = adafilter_run
  old = str(tmp_path / 'old_run')
  shutil.copytree(workdir, old)
  with checkpoint_lib.Checkpoints(os.path.join(old, 'checkpoints')) as ckpts:
    step = ckpts.latest_step()
    saved, meta = ckpts.restore(None, step)  # as saved: nested dicts
    ckpts.save(step, _old_names(saved, _gated_units(saved['params']), set(saved['params'])),
               meta)
  with checkpoint_lib.Checkpoints(os.path.join(old, 'checkpoints')) as ckpts:
    on_disk, _ = ckpts.restore(None, step)
  unit = on_disk['params']['layer4_0']['conv1']  # gated (the run gates conv1 and layer4)
  assert set(unit) == {'conv_ft', 'conv_pre', 'bn_ft', 'bn_pre'}

  got = inference.restore(old, 'latest')
  want = inference.restore(workdir, 'latest')
  assert jax.tree.structure(got.variables) == jax.tree.structure(want.variables)
  jax.tree.map(np.testing.assert_array_equal, got.variables, want.variables)
  x = np.zeros((2, got.config.data.image_size, got.config.data.image_size, 3), np.float32)
  np.testing.assert_array_equal(got.model.apply(got.variables, x)[0],
                                want.model.apply(want.variables, x)[0])
