"""SpotTune (Guo et al., CVPR 2019): per image and per residual block, a frozen
pretrained block or a fine-tuned copy of it, chosen by a policy network on the image.

Every residual block of resnet.py becomes a `SpotTuneBlock` holding two copies of the
same block, ``block_ft`` (trainable) and ``block_pre`` (frozen: its params sit behind
`stop_gradient` and its BNs always use and keep the pretrained running statistics, so it
is the pretrained block in training as at test time), both starting from the pretrained
block. The output is the chosen copy's whole output, residual and ReLU included (the
official code's reading of Eq. 2):

  x_l = I_l(x) * block_ft(x_{l-1}) + (1 - I_l(x)) * block_pre(x_{l-1})

The policy (`Policy`, the model's ``gate``) is a small ResNet on the image (one block
per stage) -> L x 2 logits, sampled with the straight-through Gumbel-softmax (ste.py) at
temperature tau in training, argmax at test time. `SpotTune` runs it once on the image,
then the plain network, handing each `SpotTuneBlock` its row of decisions as the network
calls it (`nn.intercept_methods`, the mechanism AdaFilter's transform.py uses for convs),
so the network's blocks keep their signature; the model returns ``gates = {block:
[batch, 1]}`` with 1 = the fine-tuned copy, like AdaFilter's gates.

With ``fixed`` (the global-k variant after training) each block holds only the copy
the global policy picks and there is no policy net: `fixed_params` maps a trained
gated model's params onto it.
"""
import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models.resnet import ARCHS, BasicBlock, ResNet, resnet
from adafilter_jax.models.ste import gumbel_softmax_ste

ModuleDef = Any
FT, PRE = 'block_ft', 'block_pre'


def block_names(arch: str) -> list:
  """The residual blocks of `arch` in forward order: the L rows of the policy."""
  stage_sizes, _ = ARCHS[arch]
  return [f'layer{i + 1}_{j}' for i, n in enumerate(stage_sizes) for j in range(n)]


def _frozen(block_cls, initializing: bool):
  # stop_gradient on read: the params still exist (saved, loaded, transferred) but no
  # optimizer can move them and XLA drops their weight gradients. The caller runs it in
  # eval mode: its BN normalises with, and keeps, the pretrained running statistics.
  return nn.map_variables(block_cls, 'params', trans_in_fn=jax.lax.stop_gradient,
                          init=initializing)


class SpotTuneBlock(nn.Module):
  """Called by ResNet like any block: ``(planes, strides, unit)``, ``(x, train)``; the
  policy's decisions for it, [batch, 2] one-hots, come from `SpotTune` as `decision`."""
  planes: int
  strides: int
  unit: Any
  block_cls: Any = None
  fixed: Optional[Sequence[str]] = None  # blocks that use the fine-tuned copy; None: gated
  act: Optional[Any] = None  # the copies' activation (ResNet.block_act); None: theirs

  @nn.compact
  def __call__(self, x, train: bool, decision=None):
    name = '/'.join(self.path)
    args = (self.planes, self.strides, self.unit)
    kw = {'act': self.act} if self.act is not None else {}
    ft = lambda: self.block_cls(*args, name=FT, **kw)
    pre = lambda: _frozen(self.block_cls, self.is_initializing())(*args, name=PRE, **kw)
    if self.fixed is not None:
      if name in self.fixed:
        return ft()(x, train)
      return pre()(x, False)
    if decision is None:
      raise ValueError(f'SpotTune block {name!r} called without its policy decision: '
                       f'build the model with spottune_resnet')
    y_ft, y_pre = ft()(x, train), pre()(x, False)
    g = decision[:, None, None, 1:2].astype(y_ft.dtype)  # the fine-tune category
    return g * y_ft + (1 - g) * y_pre


class Policy(nn.Module):
  """trunk(images) -> pooled features -> L x 2 logits -> straight-through Gumbel-softmax
  one-hots (tau) in training; the argmax at test time (the official code's test-time
  sampling is a bug), or with `all_finetuned` the fine-tuned copy for every block and
  image (SpotTune Table 2's baseline). Params: ``gate/trunk``, ``gate/fc``."""
  num_blocks: int
  trunk: Any
  tau: float = 5.0
  all_finetuned: bool = False

  @nn.compact
  def __call__(self, images, train: bool):
    features, _ = self.trunk(name='trunk')(images, train)
    logits = nn.Dense(self.num_blocks * 2, name='fc')(features.astype(jnp.float32))
    logits = logits.reshape(-1, self.num_blocks, 2)
    if not train and self.all_finetuned:
      return jnp.zeros_like(logits).at[..., 1].set(1.0)
    noise = (jax.random.gumbel(self.make_rng('gate'), logits.shape) if train
             else jnp.zeros_like(logits))
    return gumbel_softmax_ste(logits, noise, self.tau)


def policy_trunk(width: int, bn_axis_name=None, dtype=jnp.float32):
  """The policy's trunk on a torchvision ResNet: one BasicBlock per stage, `width` stem
  channels (64/128/256/512 at width 64)."""
  return functools.partial(ResNet, stage_sizes=(1, 1, 1, 1), block_cls=BasicBlock,
                           num_classes=None, width=width, bn_axis_name=bn_axis_name,
                           dtype=jnp.dtype(dtype))


class SpotTune(nn.Module):
  """`network` (a ResNet of `SpotTuneBlock`s) with its blocks chosen per image by
  `policy` (created as ``gate``); ``(images, train) -> (logits, {block: [batch, 1]})``.
  The network runs in this module's scope: its params keep their paths."""
  network: nn.Module
  policy: ModuleDef

  @nn.compact
  def __call__(self, images, train: bool = False):
    decisions = self.policy(name='gate')(images, train)
    # Sliced here, not in the interceptor: a block under nn.remat is intercepted inside
    # its checkpoint's trace, where a slice would be a tracer that cannot leave it.
    rows = [decisions[:, i] for i in range(decisions.shape[1])]
    picks = [decisions[:, i, 1:2] for i in range(decisions.shape[1])]
    taken = {}

    def hand_decision(next_fun, args, kwargs, ctx):
      if (not (isinstance(ctx.module, SpotTuneBlock) and ctx.method_name == '__call__')
          or len(args) > 2 or 'decision' in kwargs):
        return next_fun(*args, **kwargs)
      name = '/'.join(ctx.module.path)
      if name in taken:
        raise ValueError(f'policy stepped twice for block {name!r}')
      if len(taken) == len(rows):
        raise ValueError(f'the policy decides for {len(rows)} blocks, the network has more '
                         f'SpotTune blocks ({name!r})')
      taken[name] = picks[len(taken)]
      return next_fun(*args, rows[len(taken) - 1], **kwargs)

    network = self.network.clone(parent=self.scope, _deep_clone=True)
    with nn.intercept_methods(hand_decision):
      logits, _ = network(images, train)
    if len(taken) != len(rows):
      raise ValueError(f'the policy decides for {len(rows)} blocks, the network '
                       f'has {len(taken)} SpotTune blocks')
    return logits, taken


def spottune_resnet(arch: str, num_classes: int, *, policy_width: int = 64,
                    tau: float = 5.0, fixed: Optional[Sequence[str]] = None,
                    all_finetuned: bool = False, bn_axis_name: Optional[str] = None,
                    dtype: Any = jnp.float32, **kwargs) -> nn.Module:
  """SpotTune on a torchvision ResNet (the Decathlon's ResNet-26: spottune26.py; either
  through models/archs.py); `fixed` (block names) gives the global-k model: the plain
  network of single copies, no policy; `all_finetuned` the policy's test-time rule of
  SpotTune's Table 2 baseline (`Policy`)."""
  _, block_cls = ARCHS[arch]
  if fixed is not None:
    unknown = set(fixed) - set(block_names(arch))
    if unknown:
      raise ValueError(f'not blocks of {arch}: {sorted(unknown)}')
    fixed = tuple(fixed)
  block = functools.partial(SpotTuneBlock, block_cls=block_cls, fixed=fixed)
  network = resnet(arch, num_classes, block_cls=block, bn_axis_name=bn_axis_name,
                   dtype=dtype, **kwargs)
  if fixed is not None:
    return network
  return SpotTune(network, functools.partial(
      Policy, num_blocks=len(block_names(arch)), tau=tau, all_finetuned=all_finetuned,
      trunk=policy_trunk(policy_width, bn_axis_name, dtype)))


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
