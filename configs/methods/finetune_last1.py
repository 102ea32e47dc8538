"""Fine-tune the last 1 residual block(s) and the head (SpotTune Table 2); the stem and
every earlier block frozen; SpotTune's schedule (spottune_schedule.py).

  python main.py --config configs/methods/finetune_last1.py:cubs
"""
import ml_collections

from configs.methods import on_dataset
from configs.methods.spottune_schedule import apply_schedule


def apply(c):
  c.method = 'finetune_last_k'
  c.last_k = ml_collections.ConfigDict(dict(k=1))
  return apply_schedule(c)


def get_config(dataset: str = 'cubs'):
  return on_dataset(dataset, 'finetune_last1')
