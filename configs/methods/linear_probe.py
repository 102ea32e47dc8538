"""Linear probe (Kumar et al., ICLR 2022, its LP baseline): only the new head trains, on
the pretrained network's features in inference mode (its BN statistics kept); the base
recipe's rate and schedule for the head.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=linear_probe

Expected: below fine-tuning in-distribution (Kumar et al., Table 1 and SpotTune's
"feature extractor" rows, e.g. 74.07 vs 81.86 on CUBS); not yet run at full size here.
"""


def apply(c):
  c.method = 'linear_probe'
  return c

