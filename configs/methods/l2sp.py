"""L2-SP (Table 2): alpha/2 ||w - w0||^2 on the pretrained kernels, beta/2 ||w||^2 on
the head (alpha 0.1, beta 0.01), instead of weight decay.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=l2sp
"""
import ml_collections



def apply(c):
  c.method = 'l2sp'
  c.l2sp = ml_collections.ConfigDict(dict(alpha=0.1, beta=0.01))  # the L2-SP authors'
  c.optim.weight_decay = 0.0  # replaced by the regularizer (the loop drops it anyway)
  return c

