"""Surgical fine-tuning (Lee et al., ICLR 2023; adafilter_jax/methods/surgical.py): only
`surgical.modules` and the new head train. 'last' (the last stage: layer4, ResNet-26's
layer3) is our default: the paper picks the part per kind of shift, and new categories are
closest to its feature/output-level shifts, where the later layers won. TLlib's recipe
(configs/schedules.py).

  python main.py --config configs/transfer.py:dataset=cubs,method=surgical \
      --config.surgical.modules=layer3

Expected: no published number on these datasets (the paper's are distribution-shift
benchmarks); compare with `erm` at the same sampling rate. Not run here yet.
"""
import ml_collections

from configs import schedules


def apply(c):
  c.method = 'surgical'
  c.surgical = ml_collections.ConfigDict(dict(modules='last'))
  return schedules.tllib(c)
