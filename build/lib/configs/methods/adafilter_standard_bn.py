"""Table 3 ablation: one standard BN after the mixed output (Eq. 6) instead of gated BN.

  python main.py --config configs/methods/adafilter_standard_bn.py:caltech256_30
"""
from configs.methods import on_dataset


def apply(c):
  c.method = 'adafilter'
  c.adafilter.gated_bn = False
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'adafilter_standard_bn')
