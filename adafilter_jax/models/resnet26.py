"""The Visual Decathlon's ResNet-26 (Rebuffi et al. 2017; SpotTune's own backbone), NHWC.

  stem    conv3x3 3->32 + BN (no ReLU)                                   64 px
  stage i 4 BasicBlocks, widths 64 / 128 / 256, stride 2 in the FIRST block of
          EVERY stage (64 -> 32 -> 16 -> 8); the shortcut of a block that changes
          shape has no parameters: AvgPool(2), then zero channels up to the new width
  head    BN -> ReLU -> global average pool -> Linear(256, C)

Param paths follow resnet.py's (``conv1``, ``layer1_0/conv1``, ``layer3_3/conv2``, ``fc``)
plus ``head_bn``; blocks are written against the unit signature of layers.py, so the
plain `ConvBN` and AdaFilter's gated unit both run in it, with the model's shared gate.

`frozen` names modules (``conv1``, ``layer2_1``, ``head_bn``...) that run with their
params behind `stop_gradient` and their BN in inference mode: a frozen module's weights
AND running statistics stay exactly as loaded (the baselines of methods/ rely on it).
"""
import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models.layers import ConvBN, batch_norm

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
  def __call__(self, x, state, train: bool):
    y, state = self.unit(self.planes, 3, self.strides, 1, name='conv1')(x, state, train)
    y, state = self.unit(self.planes, 3, 1, 1, name='conv2')(nn.relu(y), state, train)
    residual = x
    if self.strides != 1 or x.shape[-1] != self.planes:
      residual = shortcut(x, self.planes, self.strides)
    return nn.relu(y + residual), state


def block_names(stage_sizes: Sequence[int] = STAGE_SIZES) -> list:
  """The residual blocks in forward order."""
  return [f'layer{i + 1}_{j}' for i, n in enumerate(stage_sizes) for j in range(n)]


def _frozen(module_def: Callable, initializing: bool) -> Callable:
  """`module_def` (a Module class, or partials of one) with its params behind
  stop_gradient: they still exist (saved, loaded) but no gradient reaches them."""
  args, kwargs = (), {}
  while isinstance(module_def, functools.partial):
    args, kwargs = module_def.args + args, {**module_def.keywords, **kwargs}
    module_def = module_def.func
  cls = nn.map_variables(module_def, 'params', trans_in_fn=jax.lax.stop_gradient,
                         init=initializing)
  return functools.partial(cls, *args, **kwargs)


class ResNet26(nn.Module):
  """Attributes as resnet.ResNet's, plus:
    stage_blocks: one block definition per stage (SpotTune wraps stages 2-3 only);
      None: `Block26` everywhere.
    frozen: module names run frozen (params and BN statistics), see the module doc.
  """
  num_classes: Optional[int]
  stage_sizes: Sequence[int] = STAGE_SIZES
  width: int = 32               # the stem; the stages are 2x, 4x, 8x it
  unit: ModuleDef = ConvBN
  gate: Optional[ModuleDef] = None
  stage_blocks: Optional[Sequence[ModuleDef]] = None
  frozen: Sequence[str] = ()
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  conv_impl: str = 'xla'

  def _module(self, module_def, name, train):
    """`module_def` named `name`, and the `train` flag it runs with."""
    if name in self.frozen:
      return _frozen(module_def, self.is_initializing())(name=name), False
    return module_def(name=name), train

  @nn.compact
  def __call__(self, x, train: bool = False):
    unit = functools.partial(self.unit, bn_axis_name=self.bn_axis_name, dtype=self.dtype,
                             conv_impl=self.conv_impl)
    unknown = set(self.frozen) - {'conv1', 'head_bn', *block_names(self.stage_sizes)}
    if unknown:
      raise ValueError(f'frozen names no module of ResNet26: {sorted(unknown)}')
    state = None
    if self.gate is not None:
      gate = self.gate(name='gate')
      unit = functools.partial(unit, gate=gate)
      state = gate.init_state(x, train)
    stem, t = self._module(functools.partial(unit, self.width, 3, 1, 1), 'conv1', train)
    x, state = stem(x, state, t)
    blocks = self.stage_blocks or (Block26,) * len(self.stage_sizes)
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        block_def = functools.partial(blocks[i], self.width * 2**(i + 1), 2 if j == 0 else 1,
                                      unit)
        block, t = self._module(block_def, f'layer{i + 1}_{j}', train)
        x, state = block(x, state, t)
      self.sow('intermediates', f'layer{i + 1}', x)
    # A frozen head BN keeps its statistics; its scale and bias are the optimizer's
    # 'frozen' group (methods label it), as a BN has no compute to save by stop_gradient.
    bn = batch_norm(train and 'head_bn' not in self.frozen, self.bn_axis_name, 'head_bn',
                    self.dtype)
    x = jnp.mean(nn.relu(bn(x)), axis=(1, 2))
    if self.num_classes is None:  # a trunk (the policy net's): pooled features
      return x, {}
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='fc')(x)
    gates = {} if state is None else dict(state.decisions)
    return logits.astype(jnp.float32), gates


def resnet26(num_classes: Optional[int], **kwargs) -> ResNet26:
  return ResNet26(num_classes=num_classes, **kwargs)
