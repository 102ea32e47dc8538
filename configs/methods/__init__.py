"""One recipe per method or ablation: configs/methods/<recipe>.py, whose `apply(config)`
sets the method and its settings on any dataset's config. Run one with configs/transfer.py:

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=l2sp

which the experiments grid (python -m adafilter_jax.apps.experiments) loads for every
dataset and recipe. A recipe is found by its file's name: adding one is adding its file.
"""
import importlib
import importlib.util
import pkgutil

import ml_collections

from adafilter_jax.data import datasets
from configs import base
from configs import schedules

RECIPES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)))
DECATHLON = 'decathlon.'  # a Visual Decathlon domain: configs/decathlon.py


def recipe(name: str):
  if name not in RECIPES:
    raise ValueError(f'unknown recipe {name!r}; known (configs/methods/): {list(RECIPES)}')
  return importlib.import_module(f'configs.methods.{name}')


def dataset_config(dataset: str) -> ml_collections.ConfigDict:
  """configs/<dataset>.py's config ('caltech256_30', 'demo', 'study.digits'), else the
  paper's recipe on the registered dataset of that name (SpotTune's 'cubs', ...)."""
  try:
    found = importlib.util.find_spec(f'configs.{dataset}') is not None
  except ModuleNotFoundError:  # 'a.b' without a folder configs/a/
    found = False
  if found:
    return importlib.import_module(f'configs.{dataset}').get_config()
  if datasets.resolve(dataset) is None:
    raise ValueError(f'unknown dataset {dataset!r}: neither a config configs/{dataset}.py '
                     f"nor a key of adafilter_jax/data/datasets.py, nor '{DECATHLON}<domain>'")
  return base.for_dataset(dataset)


def on_dataset(dataset: str, name: str) -> ml_collections.ConfigDict:
  """Recipe `name` on `dataset` (`dataset_config`, or 'decathlon.<domain>'), named
  '<dataset>_<name>'."""
  if dataset.startswith(DECATHLON):  # its schedule replaces the recipe's: its own order
    from configs import decathlon  # pylint: disable=g-import-not-at-top (it imports this)
    config = decathlon.get_config(f'domain={dataset[len(DECATHLON):]},method={name}')
  else:
    config = recipe(name).apply(dataset_config(dataset))
  config.name = f'{dataset}_{name}'
  return config


def variant(of: str, method: str):
  """The `apply` of a recipe that is recipe `of` with another `config.method` (SpotTune's
  variants: the same settings block and schedule)."""

  def apply(config):
    recipe(of).apply(config)
    config.method = method
    return config

  return apply


def last_k(config, k: int):
  """The last `k` residual blocks and the head fine-tuned (adafilter_jax/methods/last_k.py),
  on SpotTune's schedule: the recipes finetune_last<k>."""
  config.method = 'finetune_last_k'
  config.last_k = ml_collections.ConfigDict(dict(k=k))
  return schedules.spottune(config)
