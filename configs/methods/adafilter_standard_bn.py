"""Table 3 ablation: one standard BN after the mixed output (Eq. 6) instead of gated BN.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=adafilter_standard_bn
"""


def apply(c):
  c.method = 'adafilter'
  c.adafilter.gated_bn = False
  return c

