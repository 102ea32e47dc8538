"""SpotTune Table 2: Stanford Cars (8144 / 8041, 196 classes; TFDS cars196).
`paper_top1` holds that table's column (adafilter_jax/methods/paper_numbers.py). Any recipe:

  python main.py --config configs/methods/spottune.py:stanford_cars
"""
from configs import spottune_table2


def get_config():
  return spottune_table2.get_config('stanford_cars')
