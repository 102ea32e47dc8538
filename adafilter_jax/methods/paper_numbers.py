"""The papers' top-1 numbers (%, ResNet-50): the one table the configs, the experiments
grid and the docs read.

  python -m adafilter_jax.methods.paper_numbers     # the tables, in markdown

AdaFilter (Guo et al., AAAI 2020) Table 2 on its seven datasets; its Tables 3 and 4 (the
ablations, under the experiments grid's recipe names; their AdaFilter row repeats Table 2
except Caltech-30, 80.06 there); SpotTune (Guo et al., CVPR 2019) Table 2, on its own
datasets (its Decathlon Table 3 is in decathlon.py, beside the score it defines); TLlib's
sampling-rate benchmarks (`TLLIB`), by dataset and rate.
"""
from typing import Dict, Optional

DATASETS = ('stanford_dogs', 'ucf101', 'aircraft', 'caltech256_30', 'caltech256_60',
            'mit_indoor', 'omniglot')
_ROWS = {  # recipe -> its numbers on DATASETS, in that order
    'finetune': (77.47, 73.10, 52.59, 78.09, 82.25, 76.42, 87.06),
    'finetune_half': (79.61, 76.43, 53.61, 78.86, 82.55, 76.94, 87.29),
    'random_policy': (81.84, 75.15, 54.15, 79.90, 83.35, 76.71, 85.78),
    'l2sp': (79.69, 74.33, 56.52, 79.33, 82.89, 76.41, 86.92),
    'adafilter': (82.44, 76.99, 55.41, 80.62, 84.31, 77.53, 87.46),
    'adafilter_standard_bn': (82.02, 76.02, 54.33, 79.84, 83.84, 77.01, 87.27),  # Table 3
    'adafilter_cnn_gate': (83.05, 76.33, 54.63, 80.25, 83.41, 77.46, 87.04),  # Table 4
}
# recipe -> dataset -> top-1 (%).
ADAFILTER: Dict[str, Dict[str, float]] = {
    recipe: dict(zip(DATASETS, row)) for recipe, row in _ROWS.items()}

SPOTTUNE_DATASETS = ('cubs', 'stanford_cars', 'oxford_flowers', 'wikiart', 'sketches')
SPOTTUNE: Dict[str, Dict[str, float]] = {
    recipe: dict(zip(SPOTTUNE_DATASETS, row)) for recipe, row in {
        'feature_extractor': (74.07, 70.81, 85.67, 61.60, 75.50),
        'finetune': (81.86, 89.74, 93.67, 75.60, 79.58),
        'stochastic_ft': (81.03, 88.94, 92.95, 73.06, 78.30),
        'finetune_last3': (81.54, 88.21, 89.03, 72.68, 77.72),
        'finetune_last2': (80.34, 85.36, 91.81, 70.82, 78.37),
        'finetune_last1': (78.68, 81.73, 89.99, 68.96, 77.20),
        'l2sp': (83.69, 91.08, 95.21, 75.38, 79.60),
        'spottune_all_ft': (82.36, 92.04, 93.49, 67.27, 78.88),
        'spottune_fixed': (83.48, 90.51, 96.60, 75.63, 80.02),  # "SpotTune (global-k)"
        'spottune': (84.03, 92.40, 96.34, 75.77, 80.20),
    }.items()}
_TABLES = (ADAFILTER, SPOTTUNE)  # on disjoint datasets

# TLlib (thuml/Transfer-Learning-Library, examples/task_adaptation/image_classification/
# README.md, "... on ResNet-50 (Supervised Pre-trained)"), supervised ImageNet ResNet-50:
# best-epoch top-1 (%) trained on TLLIB_RATES % of the training images of each class, every
# method on TLlib's recipe; ERM is its standard fine-tuning (the recipe erm, methods/finetune.py).
TLLIB_RATES = (15, 30, 50, 100)
TLLIB: Dict[str, Dict[str, tuple]] = {  # recipe -> dataset -> top-1 at TLLIB_RATES
    'erm': {'cubs': (51.2, 64.6, 74.6, 81.8), 'stanford_cars': (41.1, 65.9, 78.4, 87.8),
            'fgvc_aircraft': (41.6, 57.8, 68.7, 80.2)},
    'co_tuning': {'cubs': (57.6, 70.1, 77.3, 82.5), 'stanford_cars': (49.0, 70.6, 81.9, 89.1),
                  'fgvc_aircraft': (45.9, 61.2, 71.3, 82.2)},
    'bss': {'cubs': (53.4, 66.7, 76.0, 82.0), 'stanford_cars': (43.3, 67.6, 79.6, 88.0),
            'fgvc_aircraft': (43.6, 59.5, 69.6, 81.2)},
    'delta': {'cubs': (54.8, 67.3, 76.3, 82.3), 'stanford_cars': (45.0, 68.4, 79.6, 88.4),
              'fgvc_aircraft': (44.4, 61.9, 71.4, 82.7)},
}


def top1(dataset: str, recipe: str, sample_rate: Optional[int] = None) -> Optional[float]:
  """The paper's top-1 (%) for a recipe (methods.recipe_names()) on a dataset, or None; with
  `sample_rate` (%), TLlib's at that rate."""
  if sample_rate is not None:
    row = TLLIB.get(recipe, {}).get(dataset)
    return row[TLLIB_RATES.index(sample_rate)] if row and sample_rate in TLLIB_RATES else None
  return on_dataset(dataset).get(recipe)


def on_dataset(dataset: str) -> Dict[str, float]:
  """The papers' numbers for one dataset: recipe -> top-1 (%)."""
  return {recipe: row[dataset] for table in _TABLES for recipe, row in table.items()
          if dataset in row}


def to_markdown(table: Dict[str, Dict[str, float]]) -> str:
  datasets = list(next(iter(table.values())))
  lines = ['| recipe | ' + ' | '.join(datasets) + ' |', '|---' * (len(datasets) + 1) + '|']
  lines += [f'| {recipe} | ' + ' | '.join(f'{row[d]:.2f}' for d in datasets) + ' |'
            for recipe, row in table.items()]
  return '\n'.join(lines)


def tllib_markdown() -> str:
  """TLlib's tables as one: a row per (recipe, dataset), a column per rate."""
  lines = ['| recipe | dataset | ' + ' | '.join(f'{r}%' for r in TLLIB_RATES) + ' |',
           '|---' * (len(TLLIB_RATES) + 2) + '|']
  lines += [f'| {recipe} | {d} | ' + ' | '.join(f'{v:.1f}' for v in row) + ' |'
            for recipe, rows in TLLIB.items() for d, row in rows.items()]
  return '\n'.join(lines)


if __name__ == '__main__':
  print('AdaFilter, Tables 2-4\n\n' + to_markdown(ADAFILTER) + '\n\nSpotTune, Table 2\n\n'
        + to_markdown(SPOTTUNE) + '\n\nTLlib, sampling rates\n\n' + tllib_markdown())
