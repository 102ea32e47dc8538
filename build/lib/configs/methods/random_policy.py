"""Random policy (Table 2): AdaFilter with G ~ Bernoulli(p), not learned.

  python main.py --config configs/methods/random_policy.py:caltech256_30
"""
from configs.methods import on_dataset


def apply(c):
  c.method = 'random_policy'
  c.adafilter.gate = 'random'  # what the method builds; set here so the saved config says so
  c.adafilter.random_p = 0.5
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'random_policy')
