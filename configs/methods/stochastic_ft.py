"""Stochastic fine-tuning (SpotTune Table 2): a random half of the residual blocks
fine-tuned, drawn once from ``config.seed`` and written into
``config.stochastic_ft.blocks`` (so the run's config.json records it; set it to repeat
a draw); SpotTune's schedule (configs/schedules.py).

  python main.py --config configs/transfer.py:dataset=cubs,method=stochastic_ft \
      --config.seed=1
"""
import ml_collections

from configs import schedules


def apply(c):
  c.method = 'stochastic_ft'
  c.stochastic_ft = ml_collections.ConfigDict(dict(blocks=''))
  return schedules.spottune(c)

