"""Fine-tune the last 1 residual block(s) and the head (SpotTune Table 2); the stem and
every earlier block frozen; SpotTune's schedule (spottune_schedule.py).

  python main.py --config configs/methods/finetune_last1.py:cubs
"""
from configs.methods.spottune_schedule import last_k_recipe

apply, get_config = last_k_recipe(1)
