"""SpotTune's Table 2 (ResNet-50, top-1 %) on its five datasets, by the recipe of
configs/methods that reproduces each row, for the datasets' configs (cubs.py,
stanford_cars.py, oxford_flowers.py, sketches.py, wikiart.py)."""
from configs import base

_COLUMNS = ('cubs', 'stanford_cars', 'oxford_flowers', 'wikiart', 'sketches')
_ROWS = {
    'feature_extractor': (74.07, 70.81, 85.67, 61.60, 75.50),
    'finetune': (81.86, 89.74, 93.67, 75.60, 79.58),
    'stochastic_ft': (81.03, 88.94, 92.95, 73.06, 78.30),
    'finetune_last3': (81.54, 88.21, 89.03, 72.68, 77.72),
    'finetune_last2': (80.34, 85.36, 91.81, 70.82, 78.37),
    'finetune_last1': (78.68, 81.73, 89.99, 68.96, 77.20),
    'l2sp': (83.69, 91.08, 95.21, 75.38, 79.60),
    'spottune_all_ft': (82.36, 92.04, 93.49, 67.27, 78.88),
    'spottune_fixed': (83.48, 90.51, 96.60, 75.63, 80.02),  # SpotTune (global-k)
    'spottune': (84.03, 92.40, 96.34, 75.77, 80.20),
}
PAPER_TOP1 = {d: {r: v[i] for r, v in _ROWS.items()} for i, d in enumerate(_COLUMNS)}


def get_config(dataset: str):
  """The recipe of configs/base.py on one of SpotTune's Table 2 datasets."""
  return base.for_dataset(dataset, dataset, PAPER_TOP1[dataset])
