"""Fine-tuning half (AdaFilter Table 2): freeze the stem and the first half of the
residual blocks (8 of ResNet-50's 16), fine-tune the rest and the new head.

"The first half" is counted in blocks, in forward order, for any depth (ResNet-18: the
stem + 4 of 8 blocks; ResNet-101: the stem + 16 of 33). Which blocks those are depends
on the architecture, so this method labels a whole params tree (`labels`), not one path.
Frozen BN layers keep their scale/bias, but their running statistics follow the
training mode as in the usual `requires_grad=False` recipe.
"""
import dataclasses
import re

import jax

from adafilter_jax.methods.registry import Method, default_label, register
from adafilter_jax.methods.finetune import build_model

_BLOCK = re.compile(r'^layer(\d+)_(\d+)$')


def frozen_modules(params) -> set:
  """The stem and the first half of the blocks found in `params`'s top level."""
  blocks = sorted((tuple(map(int, m.groups())), name) for name in params
                  if (m := _BLOCK.match(name)))
  return {'conv1'} | {name for _, name in blocks[:len(blocks) // 2]}


@dataclasses.dataclass(frozen=True)
class _FinetuneHalf(Method):

  def labels(self, params, config=None):
    frozen = frozen_modules(params)
    label = lambda path: 'frozen' if path[0] in frozen else self.label(path)
    return jax.tree_util.tree_map_with_path(
        lambda path, _: label(tuple(str(getattr(k, 'key', k)) for k in path)), params)


def recipe(c):
  """Fine-tuning half (Table 2): the stem and the first 8 of 16 blocks frozen.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=finetune_half
  """
  return c


FINETUNE_HALF = register(_FinetuneHalf(name='finetune_half', build_model=build_model,
                                       label=default_label, recipe=recipe))
