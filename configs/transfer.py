"""The method x dataset grid in one config file: any recipe on any dataset,
``configs/transfer.py:dataset=<dataset>,method=<recipe>`` (a lone value is the dataset;
by default caltech256_30 and adafilter):

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=l2sp
  python main.py --config configs/transfer.py:dataset=cubs,method=spottune

A recipe is a method's settings and schedule, kept beside the method's registration in
adafilter_jax/methods/ (its docstring: the command and the expected result); the
recipes: `methods.recipe_names()`, each method's and its ablations' (adafilter_standard_bn,
finetune_last2, erm, ...). The run is named <dataset>_<recipe> (its default workdir
runs/<that>/<method>/seed_0), and the experiments grid (python -m
adafilter_jax.apps.experiments) loads this file for each of its cells. A dataset is
- a dataset config of configs/: AdaFilter's Table 2 (caltech256_30, caltech256_60,
  stanford_dogs, aircraft, mit_indoor, ucf101, omniglot), demo, study.digits, ...;
- a Visual Decathlon domain, decathlon.<domain> (configs/decathlon.py: its schedule);
- any other dataset of adafilter_jax/data/datasets.py, on the paper's recipe: SpotTune's
  Table 2 (cubs: CUB-200-2011, TFDS caltech_birds2011; stanford_cars: TFDS cars196;
  oxford_flowers: TFDS oxford_flowers102, trained on its train + validation, the paper's
  2040 images; sketches and wikiart: image_folder, docs/decathlon.md) and TLlib's
  FGVC-Aircraft (fgvc_aircraft: the 2013b trainval 6667 / test 3333; AdaFilter's Table 2
  has the Decathlon version, aircraft), with their papers' column in `paper_top1`
  (adafilter_jax/methods/paper_numbers.py).
"""
import importlib
import importlib.util

import ml_collections

from adafilter_jax import methods
from adafilter_jax.data import datasets
from configs import base
from configs import decathlon

DECATHLON = 'decathlon.'  # a Visual Decathlon domain: configs/decathlon.py


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


def on_dataset(dataset: str, recipe: str) -> ml_collections.ConfigDict:
  """Recipe `recipe` on `dataset` (`dataset_config`, or 'decathlon.<domain>', whose
  schedule replaces the recipe's), named '<dataset>_<recipe>'."""
  if dataset.startswith(DECATHLON):
    config = decathlon.get_config(f'domain={dataset[len(DECATHLON):]},method={recipe}')
  else:
    config = methods.apply_recipe(recipe, dataset_config(dataset))
  config.name = f'{dataset}_{recipe}'
  return config


def get_config(arg=None):
  a = base.parse_arg(arg, dataset='caltech256_30', method='adafilter')
  return on_dataset(a['dataset'], a['method'])
