"""tests/train/parallel_check.py (one train step + eval on 1 device, under pmap over 2
and under jit over a 2-device mesh) for AdaFilter with the CNN gate of Table 4, whose
ResNet-18 trunk has batch norms of its own. Run in a subprocess with 2 host devices."""
import sys

from tests import tiny_config
from tests.train import parallel_check

_config = tiny_config.config


def cnn_gate_config(method='adafilter', **overrides):
  return _config(method, **{'adafilter.gate': 'cnn', 'adafilter.gate_width': 4, **overrides})


if __name__ == '__main__':
  tiny_config.config = cnn_gate_config
  sys.exit(parallel_check.main())
