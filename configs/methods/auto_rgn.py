"""Auto-RGN (Lee et al., ICLR 2023; adafilter_jax/methods/surgical.py): every conv/dense
tensor at lr x its relative gradient norm over the largest, BN parameters frozen, on
TLlib's recipe (configs/schedules.py).

  python main.py --config configs/transfer.py:dataset=cubs,method=auto_rgn

Expected: no published number on these datasets; compare with `erm` at the same
sampling rate. Not run here yet.
"""
from configs import schedules


def apply(c):
  c.method = 'auto_rgn'
  return schedules.tllib(c)
