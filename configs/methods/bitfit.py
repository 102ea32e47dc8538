"""BitFit-style tuning (adafilter_jax/methods/bitfit.py): only the BN scales and biases
and the new head train, on TLlib's recipe (configs/schedules.py).

  python main.py --config configs/transfer.py:dataset=cubs,method=bitfit

Expected: no published number on these datasets; compare with `erm` at the same
sampling rate. Not run here yet.
"""
from configs import schedules


def apply(c):
  c.method = 'bitfit'
  return schedules.tllib(c)
