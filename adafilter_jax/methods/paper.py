"""The papers' top-1 numbers (%, ResNet-50): the one table the configs, the experiments
grid and the docs read.

  python -m adafilter_jax.methods.paper     # the tables, in markdown

AdaFilter (Guo et al., AAAI 2020) Table 2 on its seven datasets; its Tables 3 and 4 (the
ablations, under the experiments grid's recipe names; their AdaFilter row repeats Table 2
except Caltech-30, 80.06 there); SpotTune (Guo et al., CVPR 2019) Table 2, on its own
datasets (its Decathlon Table 3 is in decathlon.py, beside the score it defines).
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
# README.md), supervised ImageNet ResNet-50: top-1 (%) trained on TLLIB_RATES % of the
# training images of each class; the methods of methods/bss.py and methods/delta.py.
TLLIB_RATES = (15, 30, 50, 100)
TLLIB_BSS_DELTA: Dict[str, Dict[str, tuple]] = {
    'bss': {'cubs': (53.4, 66.7, 76.0, 82.0), 'stanford_cars': (43.3, 67.6, 79.6, 88.0),
            'fgvc_aircraft': (43.6, 59.5, 69.6, 81.2)},
    'delta': {'cubs': (54.8, 67.3, 76.3, 82.3), 'stanford_cars': (45.0, 68.4, 79.6, 88.4),
              'fgvc_aircraft': (44.4, 61.9, 71.4, 82.7)},
}


def top1(dataset: str, recipe: str) -> Optional[float]:
  """The paper's top-1 (%) for a recipe of configs/methods/ on a dataset, or None."""
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


if __name__ == '__main__':
  print('AdaFilter, Tables 2-4\n\n' + to_markdown(ADAFILTER) + '\n\nSpotTune, Table 2\n\n'
        + to_markdown(SPOTTUNE))
