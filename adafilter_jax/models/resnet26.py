"""The Visual Decathlon's ResNet-26 (Rebuffi et al. 2017; SpotTune's own backbone), NHWC.

  stem    conv3x3 3->32 + BN (no ReLU)                                   64 px
  stage i 4 BasicBlocks, widths 64 / 128 / 256, stride 2 in the FIRST block of
          EVERY stage (64 -> 32 -> 16 -> 8); the shortcut of a block that changes
          shape has no parameters: AvgPool(2), then zero channels up to the new width
  head    BN -> ReLU -> global average pool -> Linear(256, C)

Param paths follow resnet.py's (``conv1``, ``layer1_0/conv1``, ``layer3_3/conv2``, ``fc``)
plus ``head_bn``; a plain network, as resnet.py's, which AdaFilter and SpotTune build
around.

`frozen` names modules (the stem ``conv1``, blocks ``layer2_1``...) held as `Frozen`
copies (``<name>/block_pre``): params behind `stop_gradient`, BN in inference mode, so a
frozen module's weights AND running statistics stay exactly as loaded (methods/ rely
on it: the feature extractor, last-k and stochastic fine-tuning, SpotTune's stage 1).
"""
import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models.layers import batch_norm, remat, unwrap
from adafilter_jax.models.resnet import ResNet, build

ModuleDef = Any
STAGE_SIZES = (4, 4, 4)


def shortcut(x, planes: int, strides: int):
  """The parameter-free shortcut: AvgPool(strides), then zero channels up to `planes`."""
  if strides != 1:
    x = nn.avg_pool(x, (strides, strides), strides=(strides, strides))
  pad = planes - x.shape[-1]
  if pad < 0:
    raise ValueError(f'a shortcut cannot shrink {x.shape[-1]} channels to {planes}')
  return jnp.pad(x, ((0, 0),) * (x.ndim - 1) + ((0, pad),))


class Block26(nn.Module):
  """conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, + shortcut, ReLU."""
  planes: int
  strides: int
  unit: ModuleDef

  @nn.compact
  def __call__(self, x, train: bool):
    y = self.unit(self.planes, 3, self.strides, 1, name='conv1')(x, train)
    y = self.unit(self.planes, 3, 1, 1, name='conv2')(nn.relu(y), train)
    residual = x
    if self.strides != 1 or x.shape[-1] != self.planes:
      residual = shortcut(x, self.planes, self.strides)
    return nn.relu(y + residual)


def block_names(stage_sizes: Sequence[int] = STAGE_SIZES) -> list:
  """The residual blocks in forward order."""
  return [f'layer{i + 1}_{j}' for i, n in enumerate(stage_sizes) for j in range(n)]


PRE = 'block_pre'  # as SpotTune's frozen copy: pretrained.transfer and the labels know it


def _frozen(module_def: Callable, initializing: bool) -> Callable:
  """`module_def` (a Module class, or partials of one) with its params behind
  stop_gradient: they still exist (saved, loaded) but no gradient reaches them."""
  module_def, args, kwargs = unwrap(module_def)
  cls = nn.map_variables(module_def, 'params', trans_in_fn=jax.lax.stop_gradient,
                         init=initializing)
  return functools.partial(cls, *args, **kwargs)


class Frozen(nn.Module):
  """A unit or block held frozen as ``<name>/block_pre``: params behind stop_gradient
  and BN in inference mode, so weights and running statistics stay as loaded. Its
  param path puts it in the optimizer's 'frozen' group (methods label by path)."""
  module_def: Any

  @nn.compact
  def __call__(self, x, train: bool):
    del train  # a frozen module never updates its statistics
    return _frozen(self.module_def, self.is_initializing())(name=PRE)(x, False)


class ResNet26(ResNet):
  """`resnet.ResNet`'s fields (the unit, the conv, BN axis, dtype, head init), with this
  architecture, plus:
    stage_blocks: one block definition per stage (SpotTune wraps stages 2-3 only);
      None: `block_cls` everywhere.
    frozen: the stem and blocks held frozen (params and BN statistics), see above.
  """
  width: int = 32               # the stem; the stages are 2x, 4x, 8x it
  stage_blocks: Optional[Sequence[ModuleDef]] = None
  frozen: Sequence[str] = ()

  def _module(self, module_def, name):
    return Frozen(module_def, name=name) if name in self.frozen else module_def(name=name)

  @nn.compact
  def __call__(self, x, train: bool = False):
    unknown = set(self.frozen) - {'conv1', *block_names(self.stage_sizes)}
    if unknown:
      raise ValueError(f'frozen names no module of ResNet26: {sorted(unknown)}')
    unit = self.make_unit()
    x = self._module(functools.partial(unit, self.width, 3, 1, 1), 'conv1')(x, train)
    blocks = self.stage_blocks or (self.block_cls,) * len(self.stage_sizes)
    if self.remat:
      blocks = [remat(b) for b in blocks]
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        block_def = functools.partial(blocks[i], self.width * 2**(i + 1), 2 if j == 0 else 1,
                                      unit)
        x = self._module(block_def, f'layer{i + 1}_{j}')(x, train)
      self.sow('intermediates', f'layer{i + 1}', x)
    # The head (BN -> ReLU -> pool -> fc) always trains.
    bn = batch_norm(train, self.bn_axis_name, 'head_bn', self.dtype)
    x = jnp.mean(nn.relu(bn(x)), axis=(1, 2))
    self.sow('intermediates', 'features', x)  # what the head reads, as resnet.ResNet's
    if self.num_classes is None:  # a trunk (the policy net's): pooled features
      return x, {}
    return self.classify(x).astype(jnp.float32), {}


STAGES = (STAGE_SIZES, Block26)  # as resnet.STAGES' rows
_VARIANTS = {}


def variant(model_cls: ModuleDef) -> ModuleDef:
  """This architecture with `model_cls`'s behaviour: a `resnet.ResNet` subclass
  (`WithSourceHead`) changes `classify`, which `ResNet26.__call__` calls as
  `ResNet.__call__` does; so the methods build ResNet-26 as they build any arch."""
  if model_cls is ResNet or issubclass(model_cls, ResNet26):
    return ResNet26 if model_cls is ResNet else model_cls
  if model_cls not in _VARIANTS:
    _VARIANTS[model_cls] = type(f'{model_cls.__name__}26', (ResNet26, model_cls), {})
  return _VARIANTS[model_cls]


def resnet26(num_classes: Optional[int], *, model_cls: ModuleDef = ResNet,
             **kwargs) -> ResNet26:
  """The config's `model` block and ResNet26's fields; `model_cls` a `ResNet` subclass
  whose behaviour this architecture takes (`variant`)."""
  return build(variant(model_cls), STAGE_SIZES, Block26, num_classes, **kwargs)
