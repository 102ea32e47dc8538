"""SpotTune in its own setting (SpotTune's Sec. 4.2.4): the Decathlon ResNet-26 with the
first stage (and the stem) frozen and each of the other 8 blocks gated per image
between its frozen copy and a fine-tuned one (models/spottune.py's `SpotTuneBlock`).

The policy net is "the same design with one block per stage": a ResNet-26 trunk with
one `Block26` per stage (32 -> 64/128/256 channels), then Linear(256 -> 2 * blocks),
trained from scratch. `Policy` takes its trunk as an argument, so it also serves the
torchvision ResNets, where it adds the ``all_finetuned`` test-time routing of SpotTune's
Table 2 baseline ("every test image through all fine-tuned blocks").

Deliberately unlike the official code: the first stage is frozen (the official code
gates all 12 blocks), and the test-time decisions are the argmax (it samples Gumbel
noise at test time).
"""
import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models.gates import GateState
from adafilter_jax.models.resnet26 import STAGE_SIZES, Block26, ResNet26, block_names, resnet26
from adafilter_jax.models.spottune import SpotTuneBlock, SpotTuneResNet
from adafilter_jax.models.ste import gumbel_softmax_ste


class Policy(nn.Module):
  """trunk(images) -> pooled features -> L x 2 logits -> straight-through Gumbel-softmax
  one-hots (tau) in training; the argmax at test time, or with `all_finetuned` the
  fine-tuned copy for every block and image. Params: ``gate/trunk``, ``gate/fc``."""
  num_blocks: int
  trunk: Any
  tau: float = 5.0
  all_finetuned: bool = False

  @nn.compact
  def init_state(self, images, train: bool) -> GateState:
    features, _ = self.trunk(name='trunk')(images, train)
    logits = nn.Dense(self.num_blocks * 2, name='fc')(features.astype(jnp.float32))
    logits = logits.reshape(-1, self.num_blocks, 2)
    if not train and self.all_finetuned:
      return GateState(jnp.zeros_like(logits).at[..., 1].set(1.0), {})
    noise = (jax.random.gumbel(self.make_rng('gate'), logits.shape) if train
             else jnp.zeros_like(logits))
    return GateState(gumbel_softmax_ste(logits, noise, self.tau), {})


def policy_trunk(width: int, bn_axis_name=None, dtype=jnp.float32):
  """The ResNet-26 policy trunk: one block per stage, `width` stem channels."""
  return functools.partial(ResNet26, num_classes=None, stage_sizes=(1, 1, 1),
                           block_cls=Block26, width=width, bn_axis_name=bn_axis_name,
                           dtype=jnp.dtype(dtype))


def spottune_resnet26(num_classes: int, *, policy_width: int = 32, tau: float = 5.0,
                      frozen_stages: int = 1, fixed: Optional[Sequence[str]] = None,
                      all_finetuned: bool = False, bn_axis_name: Optional[str] = None,
                      dtype: Any = jnp.float32, **kwargs) -> ResNet26:
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
  policy = None if fixed is not None else functools.partial(
      Policy, num_blocks=len(gated), tau=tau, all_finetuned=all_finetuned,
      trunk=policy_trunk(policy_width, bn_axis_name, dtype))
  return resnet26(num_classes, model_cls=SpotTuneResNet, policy=policy,
                stage_blocks=stage_blocks, frozen=frozen, bn_axis_name=bn_axis_name,
                dtype=dtype, **kwargs)
