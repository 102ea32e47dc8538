"""SpotTune Table 2: Oxford Flowers 102 (TFDS oxford_flowers102; trains on its train + validation, the paper's 2040 images).
`paper_top1` holds that table's column (adafilter_jax/methods/paper_numbers.py). Any recipe:

  python main.py --config configs/methods/spottune.py:oxford_flowers
"""
from configs import spottune_table2


def get_config():
  return spottune_table2.get_config('oxford_flowers')
