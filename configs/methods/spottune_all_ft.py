"""SpotTune trained with its recipe, every test image routed through all fine-tuned
blocks (SpotTune Table 2's baseline: the policy is used in training only).

  python main.py --config configs/transfer.py:dataset=cubs,method=spottune_all_ft
"""
from configs.methods import variant

apply = variant('spottune', 'spottune_all_ft')
