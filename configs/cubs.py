"""SpotTune Table 2: CUB-200-2011 (5994 train / 5794 test, 200 classes; TFDS caltech_birds2011).
`paper_top1` holds that table's column (adafilter_jax/methods/paper_numbers.py). Any recipe:

  python main.py --config configs/methods/spottune.py:cubs
"""
from configs import spottune_table2


def get_config():
  return spottune_table2.get_config('cubs')
