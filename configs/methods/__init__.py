"""One recipe per method or ablation, each applied on top of any dataset config.

A recipe module has `apply(config)` (the method's settings) and
`get_config(dataset)`, so main.py takes it with the dataset as the config argument:

  python main.py --config configs/methods/l2sp.py:caltech256_30

and the experiments grid (python -m adafilter_jax.apps.experiments) applies the same recipe
to every dataset. RECIPES lists them in the order of the paper's tables.
"""
import importlib

RECIPES = ('finetune', 'finetune_half', 'random_policy', 'l2sp', 'adafilter',
           'adafilter_standard_bn', 'adafilter_cnn_gate',
           'spottune', 'spottune_global_k', 'spottune_fixed',
           # SpotTune's other Table 2 / Table 3 baselines
           'feature_extractor', 'finetune_last1', 'finetune_last2', 'finetune_last3',
           'stochastic_ft', 'spottune_all_ft',
           'selective_joint',
           # Later baselines (TLlib's and their papers')
           'linear_probe', 'lp_ft', 'bss', 'delta',
           # TLlib's sampling-rate protocol (tllib_schedule.py) and the later baselines
           'erm', 'co_tuning', 'surgical', 'auto_rgn', 'bitfit')


def recipe(name: str):
  if name not in RECIPES:
    raise ValueError(f'unknown recipe {name!r}; known: {list(RECIPES)}')
  return importlib.import_module(f'configs.methods.{name}')


def on_dataset(dataset: str, name: str):
  """The dataset's config (configs/<dataset>.py) with recipe `name` applied."""
  module = importlib.import_module(f'configs.{dataset}')
  config = module.get_config()
  recipe(name).apply(config)
  if hasattr(module, 'after_recipe'):  # a setting whose schedule every method follows
    module.after_recipe(config)         # (configs/decathlon)
  config.name = f'{dataset}_{name}'
  return config


def derived(base: str, method: str, default_dataset: str = 'caltech256_30'):
  """(apply, get_config) of a recipe that is recipe `base` with another `config.method`
  (SpotTune's variants: the same settings block and schedule); the recipe's file name
  is the method's name."""

  def apply(config):
    recipe(base).apply(config)
    config.method = method
    return config

  def get_config(dataset: str = default_dataset):
    return on_dataset(dataset, method)

  return apply, get_config
