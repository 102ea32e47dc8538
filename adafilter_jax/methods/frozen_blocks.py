"""What SpotTune's Table 2 baselines share: fine-tune some residual blocks (and the new
head), hold the stem and every other block frozen.

- On the Decathlon ResNet-26 (``model.arch='resnet26'``) the frozen stem and blocks are
  `resnet26.Frozen` copies: weights AND BN running statistics stay as loaded.
- On a torchvision ResNet the model is SpotTune's fixed model (models/spottune.py): the
  blocks not fine-tuned are its frozen copies ``block_pre``, the stem is labelled
  frozen; their BN running statistics follow the training mode, as in the usual
  ``requires_grad=False`` recipe.

Either way a frozen param's path holds ``block_pre`` (or is the stem's), so `label`
puts it in the optimizer's 'frozen' group: no step, no weight decay.
"""
from typing import Sequence

from adafilter_jax.methods.registry import backbone_kwargs, default_label
from adafilter_jax.models import resnet26 as resnet26_lib
from adafilter_jax.models import spottune as spottune_lib


def blocks(arch: str) -> list:
  """The residual blocks of `arch` in forward order."""
  if arch == 'resnet26':
    return resnet26_lib.block_names()
  return spottune_lib.block_names(arch)


def build(config, num_classes: int, bn_axis_name, tuned: Sequence[str]):
  """The backbone with exactly the blocks `tuned` (and the head) trainable."""
  arch = config.model.arch
  unknown = set(tuned) - set(blocks(arch))
  if unknown:
    raise ValueError(f'not blocks of {arch}: {sorted(unknown)}; blocks: {blocks(arch)}')
  kwargs = backbone_kwargs(config, bn_axis_name)
  if arch == 'resnet26':
    frozen = ('conv1',) + tuple(b for b in blocks(arch) if b not in tuned)
    return resnet26_lib.resnet26(num_classes, frozen=frozen, **kwargs)
  return spottune_lib.spottune_resnet(arch, num_classes, fixed=tuple(tuned), **kwargs)


def label(path) -> str:
  if resnet26_lib.PRE in path or path[0] == 'conv1':
    return 'frozen'
  return default_label(path)
