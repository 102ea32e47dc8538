"""SpotTune trained with its recipe, every test image routed through all fine-tuned
blocks (SpotTune Table 2's baseline: the policy is used in training only).

  python main.py --config configs/methods/spottune_all_ft.py:cubs
"""
from configs.methods import derived

apply, get_config = derived('spottune', 'spottune_all_ft', 'cubs')
