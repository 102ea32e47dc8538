"""Linear probe (Kumar et al., ICLR 2022, its LP baseline): only the new head trains, on
the pretrained network's features in inference mode (its BN statistics kept); the base
recipe's rate and schedule for the head.

  python main.py --config configs/methods/linear_probe.py:caltech256_30

Expected: below fine-tuning in-distribution (Kumar et al., Table 1 and SpotTune's
"feature extractor" rows, e.g. 74.07 vs 81.86 on CUBS); not yet run at full size here.
"""
from configs.methods import on_dataset


def apply(c):
  c.method = 'linear_probe'
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'linear_probe')
