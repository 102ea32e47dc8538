"""SpotTune Table 2: WikiArt artists (42129 / 10628, 195 classes; image_folder/wikiart, docs/decathlon.md).
`paper_top1` holds that table's column (adafilter_jax/methods/paper_numbers.py). Any recipe:

  python main.py --config configs/methods/spottune.py:wikiart
"""
from configs import spottune_table2


def get_config():
  return spottune_table2.get_config('wikiart')
