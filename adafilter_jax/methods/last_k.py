"""Fine-tune the last k residual blocks (SpotTune Table 2, k = 1, 2, 3) and the head;
the stem and every earlier block stay frozen. ``config.last_k.k`` (its recipes
finetune_last{1,2,3}, `recipe_of`, set it)."""
import ml_collections

from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods import frozen_blocks
from adafilter_jax.methods import schedules


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


def recipe_of(k: int):
  """The recipe finetune_last<k>: fine-tune the last `k` residual blocks and the head
  (SpotTune Table 2, k = 1, 2, 3), the stem and every earlier block frozen; SpotTune's
  schedule (methods/schedules.py).

    python main.py --config configs/transfer.py:dataset=cubs,method=finetune_last2
  """

  def recipe(c):
    c.last_k = ml_collections.ConfigDict(dict(k=k))
    return schedules.spottune(c)

  return recipe


LAST_K = register(Method(name='finetune_last_k', build_model=build_model,
                         label=frozen_blocks.label,
                         recipes={f'finetune_last{k}': recipe_of(k) for k in (1, 2, 3)}))
