"""Random policy (Table 2): AdaFilter with G ~ Bernoulli(p), not learned.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=random_policy
"""


def apply(c):
  c.method = 'random_policy'
  c.adafilter.gate = 'random'  # the method checks it (never overrides the config)
  c.adafilter.random_p = 0.5
  return c

