"""Runs a study's cells: the source pretraining of each length, then the grid."""
import functools
import os
from typing import Dict, List, Sequence, Tuple

from absl import logging
import jax

from adafilter_jax.apps import experiments
from adafilter_jax.apps import jobs
from adafilter_jax.train import config_files
from adafilter_jax.weights import pretrained


def cell_name(source_epochs: int, target: str) -> str:
  return f'src{source_epochs}_{target}'


def cells(study) -> List[Tuple[str, int, str]]:
  """(name, source epochs, target dataset) of every cell, weakest source first."""
  return [(cell_name(e, t), e, t) for e in study.source_epochs for t in study.targets]


def recipe_dataset(config_path: str, configs_dir: str = 'configs') -> str:
  """configs/study/digits.py -> 'study.digits', its name as a dataset of configs/transfer.py."""
  rel = os.path.relpath(os.path.splitext(config_path)[0], configs_dir)
  if rel.startswith('..'):
    raise ValueError(f'study config {config_path} is not under {configs_dir}/')
  return rel.replace(os.sep, '.')


def source_config(config, epochs: int):
  """The source task, from scratch, `epochs` long (seed 0 for every transfer seed)."""
  s = config.study
  return config_files.override(config, [
      'method=finetune', 'pretrained=', 'seed=0', f'data.name={s.source}',
      f'num_epochs={epochs}', f'optim.lr={s.source_lr}', f'batch_size={s.source_batch_size}',
      f'optim.decay_epochs=({max(1, 2 * epochs // 3)},)', f'name={config.name}_source'])


def pretrain(config, epochs: int, root: str) -> str:
  """Trains the source (resumable) and saves its weights once; -> the weights dir."""
  workdir = os.path.join(root, f'source_e{epochs}')
  weights = os.path.join(workdir, 'weights')
  if not os.path.isdir(weights):
    state = jobs.train(source_config(config, epochs), workdir)
    if jax.process_index() == 0:
      pretrained.save({'params': state.params, 'batch_stats': state.batch_stats}, weights)
  return weights


def make(dataset: str, method: str, seed: int, root: str, overrides: Sequence[str], *,
         config_path: str, study, weights: Dict[int, str], configs_dir: str = 'configs'):
  """run_grid's `make` for a study: `dataset` is a cell, `method` a recipe or a lever."""
  by_name = {name: (e, t) for name, e, t in cells(study)}
  if dataset not in by_name:
    raise ValueError(f'unknown study cell {dataset!r}; known: {sorted(by_name)}')
  epochs, target = by_name[dataset]
  recipe, extra = method, ()
  if method in study.levers:
    recipe, extra = 'adafilter', tuple(study.levers[method])
  cell = [f'data.name={target}', f'pretrained={weights[epochs]}',
          *study.target_overrides.get(target, ()), *extra]
  return experiments.make_config(recipe_dataset(config_path, configs_dir), recipe, seed, root,
                                 [*cell, *overrides], configs_dir)


def run_study(config_path: str, root: str, overrides: Sequence[str] = (),
              configs_dir: str = 'configs', parts: Sequence[str] = ('grid', 'levers')
              ) -> Dict[str, str]:
  """Every missing run of the study (`parts`: the methods' grid, the levers); -> workdir
  -> status. The grid goes cell by cell, all seeds of a cell before the next; the levers
  seed by seed: a study stopped early has cells, and levers, with every seed."""
  config = config_files.load(config_path, overrides)
  study = config.study
  weights = {e: pretrain(config, e, root) for e in study.source_epochs}
  grid = functools.partial(make, config_path=config_path, study=study, weights=weights,
                           configs_dir=configs_dir)
  status = {}
  if 'grid' in parts:
    for cell, _, _ in cells(study):
      for seed in study.seeds:
        status.update(experiments.run_grid([cell], study.methods, [seed], root, overrides,
                                           make=grid))
  if 'levers' in parts:
    for seed in study.seeds:
      status.update(experiments.run_grid(list(study.lever_cells), list(study.levers), [seed],
                                         root, overrides, make=grid))
  logging.info('study %s: %s', config_path, status)
  return status
