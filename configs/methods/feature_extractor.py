"""Feature extractor (SpotTune Tables 2 and 3): the pretrained network frozen, only the
new head trains; SpotTune's schedule (configs/schedules.py).

  python main.py --config configs/transfer.py:dataset=cubs,method=feature_extractor
  python main.py --config configs/decathlon.py:domain=aircraft,method=feature_extractor
"""
from configs import schedules


def apply(c):
  c.method = 'feature_extractor'
  return schedules.spottune(c)

