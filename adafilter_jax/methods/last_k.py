"""Fine-tune the last k residual blocks (SpotTune Table 2, k = 1, 2, 3) and the head;
the stem and every earlier block stay frozen. ``config.last_k.k`` (the recipes
configs/methods/finetune_last{1,2,3}.py set it)."""
from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods import frozen_blocks


def tuned_blocks(config) -> list:
  if 'last_k' not in config or 'k' not in config.last_k:
    raise ValueError('finetune_last_k needs config.last_k.k (use a recipe: '
                     'configs/transfer.py:method=finetune_last1, 2 or 3)')
  k, names = config.last_k.k, frozen_blocks.blocks(config.model.arch)
  if not 1 <= k <= len(names):
    raise ValueError(f'config.last_k.k={k}: {config.model.arch} has {len(names)} blocks')
  return names[-k:]


def build_model(config, num_classes, bn_axis_name=None):
  return frozen_blocks.build(config, num_classes, bn_axis_name, tuned_blocks(config))


LAST_K = register(Method(name='finetune_last_k', build_model=build_model,
                         label=frozen_blocks.label))
