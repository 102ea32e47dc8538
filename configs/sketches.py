"""SpotTune Table 2: Sketches, Eitz et al. 2012 (16000 / 4000, 250 classes; image_folder/sketches, docs/decathlon.md).
`paper_top1` holds that table's column (adafilter_jax/methods/paper_numbers.py). Any recipe:

  python main.py --config configs/methods/spottune.py:sketches
"""
from configs import spottune_table2


def get_config():
  return spottune_table2.get_config('sketches')
