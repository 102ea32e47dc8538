"""SpotTune Table 2: Oxford Flowers 102 (TFDS oxford_flowers102; the paper's 2040 train images are TFDS's train + validation, this reads 'train': 1020).
`paper_top1` holds that table's column (adafilter_jax/paper.py). Any recipe:

  python main.py --config configs/methods/spottune.py:oxford_flowers
"""
from configs import spottune_table2


def get_config():
  return spottune_table2.get_config('oxford_flowers')
