"""AdaFilter (Table 2): the paper's recipe, configs/base.py unchanged.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=adafilter
"""


def apply(c):
  c.method = 'adafilter'
  return c

