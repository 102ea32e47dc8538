"""FGVC-Aircraft as TLlib benchmarks it: the original 2013b variants, trainval 6667 /
test 3333, 100 classes (`fgvc_aircraft`; the Decathlon version of AdaFilter's Table 2 is
configs/aircraft.py). For the sampling-rate protocol (docs/methods.md):

  python main.py --config configs/methods/co_tuning.py:fgvc_aircraft --config.data.sample_rate=0.3
"""
from configs import base


def get_config():
  return base.for_dataset('fgvc_aircraft', 'fgvc_aircraft')
