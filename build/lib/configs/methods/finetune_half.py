"""Fine-tuning half (Table 2): the stem and the first 8 of 16 blocks frozen.

  python main.py --config configs/methods/finetune_half.py:caltech256_30
"""
from configs.methods import on_dataset


def apply(c):
  c.method = 'finetune_half'
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'finetune_half')
