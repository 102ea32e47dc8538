"""Feature extractor (SpotTune Tables 2 and 3): the pretrained network frozen, only the
new head trains; SpotTune's schedule (spottune_schedule.py).

  python main.py --config configs/methods/feature_extractor.py:cubs
  python main.py --config configs/methods/feature_extractor.py:decathlon.aircraft
"""
from configs.methods import on_dataset
from configs.methods.spottune_schedule import apply_schedule


def apply(c):
  c.method = 'feature_extractor'
  return apply_schedule(c)


def get_config(dataset: str = 'cubs'):
  return on_dataset(dataset, 'feature_extractor')
