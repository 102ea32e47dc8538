"""Surgical fine-tuning (Lee et al., ICLR 2023; adafilter_jax/methods/surgical.py): only
`surgical.modules` and the new head train. 'last' (the last stage: layer4, ResNet-26's
layer3) is our default: the paper picks the part per kind of shift, and new categories are
closest to its feature/output-level shifts, where the later layers won. TLlib's recipe
(tllib_schedule.py).

  python main.py --config configs/methods/surgical.py:cubs --config.surgical.modules=layer3

Expected: no published number on these datasets (the paper's are distribution-shift
benchmarks); compare with `erm` at the same sampling rate. Not run here yet.
"""
from configs.methods.tllib_schedule import recipe

apply, get_config = recipe('surgical', 'surgical', {'surgical': dict(modules='last')})
