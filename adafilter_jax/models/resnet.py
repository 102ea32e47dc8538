"""torchvision's ResNet (v1.5: the stride sits on the 3x3 conv) in Flax linen, NHWC.

Param paths mirror torchvision's state_dict so the converter is a table, not a search:
``conv1`` + ``bn1`` -> unit ``conv1``; ``layer2.0.conv3`` + ``bn3`` -> unit ``layer2_0/conv3``;
``layer2.0.downsample.{0,1}`` -> unit ``layer2_0/downsample``; ``fc`` -> ``fc``.
Inside a unit: ``conv/kernel`` and ``bn/{scale,bias}`` (``batch_stats``: ``bn/{mean,var}``).

The network is plain: AdaFilter (adafilter.py, through transform.py) and SpotTune
(spottune.py) are built around it, not inside it. A model returns ``(logits, gates)``:
``gates`` maps each gated layer (or block) to its [batch, channels] decisions, and is
empty for a plain ResNet.
"""
import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from adafilter_jax.models import lean
from adafilter_jax.models.layers import CONVS, Conv, ConvBN, linear_init, relu, remat

ModuleDef = Any


class BasicBlock(nn.Module):
  planes: int
  strides: int
  unit: ModuleDef
  act: Callable = nn.relu
  expansion = 1

  @nn.compact
  def __call__(self, x, train: bool):
    residual = x
    y = self.unit(self.planes, 3, self.strides, 1, name='conv1')(x, train)
    y = self.unit(self.planes, 3, 1, 1, name='conv2')(self.act(y), train)
    if self.strides != 1 or x.shape[-1] != self.planes:
      residual = self.unit(self.planes, 1, self.strides, 0, name='downsample')(x, train)
    return self.act(y + residual)


class Bottleneck(nn.Module):
  planes: int
  strides: int
  unit: ModuleDef
  act: Callable = nn.relu
  expansion = 4

  @nn.compact
  def __call__(self, x, train: bool):
    residual = x
    out = self.planes * self.expansion
    y = self.unit(self.planes, 1, 1, 0, name='conv1')(x, train)
    y = self.unit(self.planes, 3, self.strides, 1, name='conv2')(self.act(y), train)
    y = self.unit(out, 1, 1, 0, name='conv3')(self.act(y), train)
    # Call order, which AdaFilter's gate follows: conv1, conv2, conv3, the projection.
    if self.strides != 1 or x.shape[-1] != out:
      residual = self.unit(out, 1, self.strides, 0, name='downsample')(x, train)
    return self.act(y + residual)


class ResNet(nn.Module):
  """A torchvision ResNet.

  Attributes:
    stage_sizes: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50.
    block_cls: `BasicBlock` or `Bottleneck` (or a block of the same signature).
    num_classes: size of the new linear head ``fc``; None for a headless trunk.
    width: channels of the stem (64 in torchvision; tests use tiny widths).
    unit: the conv+bn module every conv of the network is (`ConvBN`).
    conv: the conv module the units build (layers.CONVS: how convs are computed).
    head_init: how ``fc`` starts (layers.linear_init: 'torch' | 'flax' | 'zeros').
    remat: recompute each residual block's activations in the backward pass instead of
      keeping them (`layers.remat`; config.model.remat): less memory, one more forward.
    lean_units: in training, each unit's conv + BN as one lean unit (`lean.plain_unit`;
      config.model.lean_units): the same numbers, a backward that keeps less.
    lean_relus: the blocks' ReLUs take their gradient's mask from their outputs
      (`layers.relu`), which the next unit keeps, rather than from their inputs, which
      XLA recomputes from what the unit before keeps (both branches' conv outputs after
      a gated unit); None: as `lean_units`. AdaFilter sets it with its own lean units.
  """
  stage_sizes: Sequence[int]
  block_cls: ModuleDef
  num_classes: Optional[int]
  width: int = 64
  unit: ModuleDef = ConvBN
  conv: ModuleDef = Conv
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  head_init: str = 'torch'
  remat: bool = False
  lean_units: bool = False
  lean_relus: Optional[bool] = None

  def make_unit(self):
    """The unit every conv of the network is built from, with the network's settings."""
    extra = dict(lean=lean.plain_unit) if self.lean_units else {}
    return functools.partial(self.unit, bn_axis_name=self.bn_axis_name, dtype=self.dtype,
                             conv=self.conv, **extra)

  def block_act(self) -> dict:
    """The blocks' activation, passed only where it is not nn.relu (a block class of
    the same signature may have no `act`)."""
    lean = self.lean_units if self.lean_relus is None else self.lean_relus
    return {'act': relu} if lean else {}

  @nn.compact
  def __call__(self, x, train: bool = False):
    unit = self.make_unit()
    x = unit(self.width, 7, 2, 3, name='conv1')(x, train)
    # nn.relu here, lean or not: the max pool's backward reads its input wherever the
    # mask is taken from, and XLA recomputes it from what the stem's unit keeps.
    x = nn.max_pool(nn.relu(x), (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    self.sow('intermediates', 'stem', x)
    block_cls = remat(self.block_cls) if self.remat else self.block_cls
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        block = block_cls(self.width * 2**i, 2 if (i > 0 and j == 0) else 1, unit,
                          name=f'layer{i + 1}_{j}', **self.block_act())
        x = block(x, train)
      self.sow('intermediates', f'layer{i + 1}', x)
    x = jnp.mean(x, axis=(1, 2))
    self.sow('intermediates', 'features', x)  # what the head reads (BSS penalises it)
    if self.num_classes is None:  # a trunk (the CNN gate's): pooled features, no head
      return x, {}
    return self.classify(x).astype(jnp.float32), {}

  def classify(self, features):
    """The new head ``fc`` on the pooled features (a subclass may add heads beside it)."""
    return nn.Dense(self.num_classes, dtype=self.dtype, name='fc',
                    **linear_init(self.head_init, features.shape[-1]))(features)


class WithSourceHead(ResNet):
  """A ResNet that keeps its pretraining task's head, ``source_fc`` (`source_classes`
  outputs; pretrained.transfer loads it from the pretrained ``fc``), beside the new
  one: Co-Tuning's model. Its logits are sown as intermediates ``source_logits``; the
  model's output is the new head's, so evaluation sees an ordinary classifier."""
  source_classes: int = 1000

  def classify(self, features):
    source = nn.Dense(self.source_classes, dtype=self.dtype, name='source_fc')(features)
    self.sow('intermediates', 'source_logits', source.astype(jnp.float32))
    return super().classify(features)


# torchvision's ResNets: the archs that have ImageNet weights (weights/).
STAGES = {
    'resnet18': ((2, 2, 2, 2), BasicBlock),
    'resnet34': ((3, 4, 6, 3), BasicBlock),
    'resnet50': ((3, 4, 6, 3), Bottleneck),
    'resnet101': ((3, 4, 23, 3), Bottleneck),
    'resnet152': ((3, 8, 36, 3), Bottleneck),
}
# The smallest of each block's family, one block a stage and every part the others have
# (stem, projections, four stages), no ImageNet weights: runs of seconds on a CPU, and
# the tests (a program's compile grows with its layers, its init's faster than linearly).
SMALL_STAGES = {
    'resnet10': ((1, 1, 1, 1), BasicBlock),
    'resnet14': ((1, 1, 1, 1), Bottleneck),
}
ARCHS = {**STAGES, **SMALL_STAGES}


def build(model_cls: ModuleDef, stage_sizes: Sequence[int], arch_block: ModuleDef,
          num_classes: Optional[int], *, conv_impl: str = 'xla', dtype: Any = jnp.float32,
          **kwargs) -> ResNet:
  """`model_cls` with the arch's stages and block, the config's conv and dtype, and
  `kwargs` its fields (a `block_cls` there replaces the arch's own)."""
  if conv_impl not in CONVS:
    raise ValueError(f'unknown conv_impl {conv_impl!r} (config.model.conv_impl); '
                     f'expected one of {sorted(CONVS)}')
  kwargs = {'block_cls': arch_block, **kwargs}
  return model_cls(stage_sizes=stage_sizes, num_classes=num_classes, conv=CONVS[conv_impl],
                   dtype=jnp.dtype(dtype), **kwargs)


def resnet(arch: str, num_classes: Optional[int], *, model_cls: ModuleDef = ResNet,
           **kwargs) -> ResNet:
  """A torchvision-layout ResNet (`ARCHS`) from the config's `model` block:
  ``resnet(num_classes=..., **config.model)``; `model_cls` a subclass (`WithSourceHead`)
  and `kwargs` its fields. Every arch, ResNet-26 included, is built through
  models/archs.py."""
  if arch not in ARCHS:
    raise ValueError(f'unknown torchvision-layout arch {arch!r}; expected one of '
                     f'{sorted(ARCHS)}')
  stage_sizes, block_cls = ARCHS[arch]
  return build(model_cls, stage_sizes, block_cls, num_classes, **kwargs)
