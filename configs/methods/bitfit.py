"""BitFit-style tuning (adafilter_jax/methods/bitfit.py): only the BN scales and biases
and the new head train, on TLlib's recipe (tllib_schedule.py).

  python main.py --config configs/methods/bitfit.py:cubs

Expected: no published number on these datasets; compare with `erm` at the same
sampling rate. Not run here yet.
"""
from configs.methods.tllib_schedule import recipe

apply, get_config = recipe('bitfit', 'bitfit')
