"""SpotTune trained with its recipe, every test image routed through all fine-tuned
blocks (SpotTune Table 2's baseline: the policy is used in training only).

  python main.py --config configs/methods/spottune_all_ft.py:cubs
"""
from configs.methods import on_dataset
from configs.methods import spottune


def apply(c):
  spottune.apply(c)
  c.method = 'spottune_all_ft'
  return c


def get_config(dataset: str = 'cubs'):
  return on_dataset(dataset, 'spottune_all_ft')
