"""AdaFilter (Table 2): the paper's recipe, configs/base.py unchanged.

  python main.py --config configs/methods/adafilter.py:caltech256_30
"""
from configs.methods import on_dataset


def apply(c):
  c.method = 'adafilter'
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'adafilter')
