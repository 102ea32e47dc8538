"""SpotTune in its own setting (SpotTune's Sec. 4.2.4): the Decathlon ResNet-26 with the
first stage (and the stem) frozen and each of the other 8 blocks gated per image
between its frozen copy and a fine-tuned one (models/spottune.py's `SpotTuneBlock`).

The policy net is "the same design with one block per stage": a ResNet-26 trunk with
one `Block26` per stage (32 -> 64/128/256 channels), then Linear(256 -> 2 * blocks),
trained from scratch (spottune.py's `Policy` on this trunk).

Deliberately unlike the official code: the first stage is frozen (the official code
gates all 12 blocks), and the test-time decisions are the argmax (it samples Gumbel
noise at test time).
"""
import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from adafilter_jax.models.resnet26 import STAGE_SIZES, Block26, ResNet26, block_names, resnet26
from adafilter_jax.models.spottune import Policy, SpotTune, SpotTuneBlock


def policy_trunk(width: int, bn_axis_name=None, dtype=jnp.float32):
  """The ResNet-26 policy trunk: one block per stage, `width` stem channels."""
  return functools.partial(ResNet26, num_classes=None, stage_sizes=(1, 1, 1),
                           block_cls=Block26, width=width, bn_axis_name=bn_axis_name,
                           dtype=jnp.dtype(dtype))


def spottune_resnet26(num_classes: int, *, policy_width: int = 32, tau: float = 5.0,
                      frozen_stages: int = 1, fixed: Optional[Sequence[str]] = None,
                      all_finetuned: bool = False, bn_axis_name: Optional[str] = None,
                      dtype: Any = jnp.float32, **kwargs) -> nn.Module:
  """SpotTune on ResNet-26: the stem and the first `frozen_stages` stages frozen (BN
  statistics included), the other blocks gated; `fixed` (block names) gives the global-k
  model (those blocks fine-tuned, every other block frozen, no policy net)."""
  names = block_names(STAGE_SIZES)
  frozen = ('conv1',) + tuple(n for n in names if int(n[5]) <= frozen_stages)
  gated = [n for n in names if n not in frozen]
  if fixed is not None:
    unknown = set(fixed) - set(gated)
    if unknown:
      raise ValueError(f'not gated blocks of resnet26: {sorted(unknown)}; gated: {gated}')
  block = functools.partial(SpotTuneBlock, block_cls=Block26,
                            fixed=None if fixed is None else tuple(fixed))
  stage_blocks = [Block26] * frozen_stages + [block] * (len(STAGE_SIZES) - frozen_stages)
  network = resnet26(num_classes, stage_blocks=stage_blocks, frozen=frozen,
                     bn_axis_name=bn_axis_name, dtype=dtype, **kwargs)
  if fixed is not None:
    return network
  return SpotTune(network, functools.partial(
      Policy, num_blocks=len(gated), tau=tau, all_finetuned=all_finetuned,
      trunk=policy_trunk(policy_width, bn_axis_name, dtype)))
