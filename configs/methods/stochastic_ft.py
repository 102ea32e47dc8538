"""Stochastic fine-tuning (SpotTune Table 2): a random half of the residual blocks
fine-tuned, drawn once from ``config.seed`` and written into
``config.stochastic_ft.blocks`` (so the run's config.json records it; set it to repeat
a draw); SpotTune's schedule (spottune_schedule.py).

  python main.py --config configs/methods/stochastic_ft.py:cubs --config.seed=1
"""
import ml_collections

from configs.methods import on_dataset
from configs.methods.spottune_schedule import apply_schedule


def apply(c):
  c.method = 'stochastic_ft'
  c.stochastic_ft = ml_collections.ConfigDict(dict(blocks=''))
  return apply_schedule(c)


def get_config(dataset: str = 'cubs'):
  return on_dataset(dataset, 'stochastic_ft')
