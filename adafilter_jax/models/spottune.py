"""SpotTune (Guo et al., CVPR 2019): per image and per residual block, a frozen
pretrained block or a fine-tuned copy of it, chosen by a policy network on the image.

Every residual block of resnet.py becomes a `SpotTuneBlock` holding two copies of the
same block, ``block_ft`` (trainable) and ``block_pre`` (frozen: its params sit behind
`stop_gradient` and its BNs always use and keep the pretrained running statistics, so it
is the pretrained block in training as at test time), both starting from the pretrained
block. The output is the chosen copy's whole output, residual and ReLU included (the
official code's reading of Eq. 2):

  x_l = I_l(x) * block_ft(x_{l-1}) + (1 - I_l(x)) * block_pre(x_{l-1})

The policy (`SpotTunePolicy`, the model's ``gate``) is a small ResNet on the image
(one BasicBlock per stage, 64/128/256/512 channels) -> L x 2 logits, sampled with the
straight-through Gumbel-softmax (ste.py) at temperature tau in training, argmax at
test time. `SpotTuneResNet` starts it in `ResNet.start`: the decisions are made once in
``init_state`` and every block takes its row in forward order, so the model returns
``gates = {block: [batch, 1]}`` with 1 = the fine-tuned copy, like AdaFilter's gates.

With ``fixed`` (the global-k variant after training) each block holds only the copy
the global policy picks and there is no policy net: `fixed_params` maps a trained
gated model's params onto it.
"""
import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models.gates import GateState
from adafilter_jax.models.resnet import STAGES, BasicBlock, ResNet, resnet
from adafilter_jax.models.ste import gumbel_softmax_ste

ModuleDef = Any
FT, PRE = 'block_ft', 'block_pre'


def block_names(arch: str) -> list:
  """The residual blocks of `arch` in forward order: the L rows of the policy."""
  stage_sizes, _ = STAGES[arch]
  return [f'layer{i + 1}_{j}' for i, n in enumerate(stage_sizes) for j in range(n)]


def _frozen(block_cls, initializing: bool):
  # stop_gradient on read: the params still exist (saved, loaded, transferred) but no
  # optimizer can move them and XLA drops their weight gradients. The caller runs it in
  # eval mode: its BN normalises with, and keeps, the pretrained running statistics.
  return nn.map_variables(block_cls, 'params', trans_in_fn=jax.lax.stop_gradient,
                          init=initializing)


class SpotTuneBlock(nn.Module):
  """Called by ResNet like any block: ``(planes, strides, unit)``, ``(x, state, train)``."""
  planes: int
  strides: int
  unit: Any
  block_cls: Any = None
  fixed: Optional[Sequence[str]] = None  # blocks that use the fine-tuned copy; None: gated

  @nn.compact
  def __call__(self, x, state, train: bool):
    name = '/'.join(self.path)
    args = (self.planes, self.strides, self.unit)
    ft = lambda: self.block_cls(*args, name=FT)
    pre = lambda: _frozen(self.block_cls, self.is_initializing())(*args, name=PRE)
    if self.fixed is not None:
      if name in self.fixed:
        return ft()(x, state, train)
      return pre()(x, state, False)
    y_ft, state = ft()(x, state, train)
    y_pre, state = pre()(x, state, False)
    decisions, taken = state.carry, state.decisions
    if name in taken:
      raise ValueError(f'policy stepped twice for block {name!r}')
    i = len(taken)
    g = decisions[:, i, 1:2]  # [batch, 1]: the fine-tune category of the one-hot
    mix = g[:, :, None, None].astype(y_ft.dtype)
    y = mix * y_ft + (1 - mix) * y_pre
    return y, GateState(decisions, {**taken, name: g})


class SpotTunePolicy(nn.Module):
  """The policy net; the model's ``gate``, so its params are the 'gate' group."""
  num_blocks: int
  width: int = 64
  tau: float = 5.0
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32

  @nn.compact
  def init_state(self, images, train: bool) -> GateState:
    trunk = ResNet(stage_sizes=(1, 1, 1, 1), block_cls=BasicBlock, num_classes=None,
                   width=self.width, bn_axis_name=self.bn_axis_name, dtype=self.dtype,
                   name='trunk')
    features, _ = trunk(images, train)
    logits = nn.Dense(self.num_blocks * 2, name='fc')(features.astype(jnp.float32))
    logits = logits.reshape(-1, self.num_blocks, 2)
    # Test time is deterministic (argmax); the official code's test-time sampling is a bug.
    noise = (jax.random.gumbel(self.make_rng('gate'), logits.shape) if train
             else jnp.zeros_like(logits))
    return GateState(gumbel_softmax_ste(logits, noise, self.tau), {})


class SpotTuneResNet(ResNet):
  """A `ResNet` of `SpotTuneBlock`s whose policy net (``gate``) decides once per image."""
  policy: Optional[ModuleDef] = None  # None: the fixed (global-k) model

  def start(self, images, train: bool):
    unit, _ = super().start(images, train)
    if self.policy is None:
      return unit, None
    return unit, self.policy(name='gate').init_state(images, train)


def spottune_resnet(arch: str, num_classes: int, *, policy_width: int = 64,
                    tau: float = 5.0, fixed: Optional[Sequence[str]] = None,
                    bn_axis_name: Optional[str] = None, dtype: Any = jnp.float32,
                    **kwargs) -> ResNet:
  """SpotTune on a torchvision ResNet (the Decathlon's ResNet-26: spottune26.py; either
through models/archs.py); `fixed` (block names) gives the global-k model."""
  _, block_cls = STAGES[arch]
  if fixed is not None:
    unknown = set(fixed) - set(block_names(arch))
    if unknown:
      raise ValueError(f'not blocks of {arch}: {sorted(unknown)}')
    fixed = tuple(fixed)
  policy = None if fixed is not None else functools.partial(
      SpotTunePolicy, num_blocks=len(block_names(arch)), width=policy_width, tau=tau,
      bn_axis_name=bn_axis_name, dtype=jnp.dtype(dtype))
  block = functools.partial(SpotTuneBlock, block_cls=block_cls, fixed=fixed)
  return resnet(arch, num_classes, model_cls=SpotTuneResNet, block_cls=block, policy=policy,
                bn_axis_name=bn_axis_name, dtype=dtype, **kwargs)


def global_policy(fractions: dict, k: int) -> list:
  """The global-k policy: the k blocks most often fine-tuned (v_l), in forward order."""
  top = sorted(fractions, key=lambda b: -fractions[b])[:k]
  return [b for b in fractions if b in top]


def fixed_params(variables: dict, fixed: Sequence[str]) -> dict:
  """A trained gated model's variables -> the fixed model's: no policy net, and per
  block only the copy the global policy uses."""
  out = {}
  for col, tree in variables.items():
    tree = {k: v for k, v in tree.items() if k != 'gate'}
    for name, sub in tree.items():
      if isinstance(sub, dict) and FT in sub:
        tree[name] = {FT if name in fixed else PRE: sub[FT if name in fixed else PRE]}
    out[col] = tree
  return out
