"""Auto-RGN (Lee et al., ICLR 2023; adafilter_jax/methods/surgical.py): every conv/dense
tensor at lr x its relative gradient norm over the largest, BN parameters frozen, on
TLlib's recipe (tllib_schedule.py).

  python main.py --config configs/methods/auto_rgn.py:cubs

Expected: no published number on these datasets; compare with `erm` at the same
sampling rate. Not run here yet.
"""
from configs.methods.tllib_schedule import recipe

apply, get_config = recipe('auto_rgn', 'auto_rgn')
