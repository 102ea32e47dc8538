"""L2-SP (Table 2): alpha/2 ||w - w0||^2 on the pretrained kernels, beta/2 ||w||^2 on
the head (alpha 0.1, beta 0.01), instead of weight decay.

  python main.py --config configs/methods/l2sp.py:caltech256_30
"""
from adafilter_jax.methods import l2sp
from configs.methods import on_dataset


def apply(c):
  c.method = 'l2sp'
  c.l2sp = l2sp.default_config()
  c.optim.weight_decay = 0.0  # replaced by the regularizer (the loop drops it anyway)
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'l2sp')
