"""Fine-tune the last 3 residual block(s) and the head (SpotTune Table 2); the stem and
every earlier block frozen; SpotTune's schedule (configs/schedules.py).

  python main.py --config configs/transfer.py:dataset=cubs,method=finetune_last3
"""
from configs.methods import last_k


def apply(c):
  return last_k(c, 3)
