"""Fine-tune the last 2 residual block(s) and the head (SpotTune Table 2); the stem and
every earlier block frozen; SpotTune's schedule (configs/schedules.py).

  python main.py --config configs/transfer.py:dataset=cubs,method=finetune_last2
"""
from configs.methods import last_k


def apply(c):
  return last_k(c, 2)
