"""Gates: per example and per output channel, which copy of a conv's filters to use.

A gate is a linen module shared by all gated convs of a model (transform.py). The
transform calls ``init_state(images, train)`` once, then at every gated conv, in call
order, ``gate(x, state, layer, features)`` with the conv's input, and gets ``(decisions,
state)``:
decisions are exactly 0/1, shape [batch, channels], 1 = use the fine-tuned filter.

- `LSTMGate` (the paper): GAP(x_i) -> per-layer embedding -> ONE LSTM cell stepped
  through the layers -> per-layer linear head -> sigmoid -> threshold 0.5 (+ STE).
- `CNNGate` (Table 4 ablation): a ResNet-18 on the input image, one linear head per layer.
- `RandomGate` (the random-policy baseline): G ~ Bernoulli(p), independent of the input.

Per-layer modules are named by the layer's index in forward order (``embed_3``), the
order is checked against the layer names, and `is_gated` says which convs are gated.
Every field comes from the config's `adafilter` block (adafilter.py maps it).
"""
from typing import Any, Dict, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from flax import struct

from adafilter_jax.models.layers import linear_init, lstm_init
from adafilter_jax.models.ste import binary_ste

ModuleDef = Any


class GateState(NamedTuple):
  carry: Any                      # the recurrent state, or the CNN gate's image features
  decisions: Dict[str, jax.Array]  # layer name -> [batch, channels], in forward order


def is_gated(gated_layers: str, name: str) -> bool:
  """Which convs are gated: 'all'; 'blocks' (not the stem, not the projections);
  or comma-separated layer-name prefixes, e.g. 'layer3,layer4'."""
  if gated_layers == 'all':
    return True
  if gated_layers == 'blocks':
    return name != 'conv1' and not name.endswith('downsample')
  return any(name.startswith(p.strip()) for p in gated_layers.split(',') if p.strip())


class _Gate(nn.Module):
  """What all gates share: layer selection, the 0/1 decision, recording it."""
  gated_layers: str        # `is_gated`
  through_sigmoid: bool    # STE backward: identity to the logit (Eq. 2) or via sigmoid'

  def is_gated(self, name: str) -> bool:
    return is_gated(self.gated_layers, name)

  def _decide(self, logits, state: GateState, name: str, carry) -> tuple:
    if name in state.decisions:
      raise ValueError(f'gate stepped twice for layer {name!r}')
    g = binary_ste(logits.astype(jnp.float32), self.through_sigmoid)
    return g, GateState(carry, {**state.decisions, name: g})


# Normalisations of the LSTM gate's pooled input (levers the paper leaves open;
# docs/study.md): 'none' (the paper), 'layer' (per example, over the channels), 'batch'
# (per channel, over the batch; running statistics at test time), which leaves only what
# differs between images.
INPUT_NORMS = ('none', 'layer', 'batch')


class LSTMGate(_Gate):
  embed_dim: int
  hidden_dim: int
  init: str        # 'torch' | 'flax': layers.linear_init / lstm_init
  input_norm: str = 'none'       # INPUT_NORMS
  head_bias: Optional[float] = None  # the heads' initial bias; None: `init`'s draw
  bn_axis_name: Optional[str] = None  # input_norm='batch' under pmap

  def init_state(self, images, train: bool) -> GateState:
    if self.input_norm not in INPUT_NORMS:
      raise ValueError(f'adafilter.gate_input_norm={self.input_norm!r}: expected one of '
                       f'{INPUT_NORMS}')
    zeros = jnp.zeros((images.shape[0], self.hidden_dim), jnp.float32)
    return GateState(((zeros, zeros), train), {})

  def _normalize(self, pooled, i: int, train: bool):
    if self.input_norm == 'layer':
      return nn.LayerNorm(name=f'norm_{i}')(pooled)
    if self.input_norm == 'batch':
      return nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis_name,
                          name=f'norm_{i}')(pooled)
    return pooled

  @nn.compact
  def __call__(self, x, state: GateState, name: str, features: int):
    i = len(state.decisions)
    lstm_carry, train = state.carry
    pooled = self._normalize(jnp.mean(x.astype(jnp.float32), (1, 2)), i, train)
    embedding = nn.Dense(self.embed_dim, name=f'embed_{i}',
                         **linear_init(self.init, pooled.shape[-1]))(pooled)
    lstm_carry, h = nn.OptimizedLSTMCell(self.hidden_dim, name='lstm',
                                         **lstm_init(self.init, self.hidden_dim))(lstm_carry,
                                                                                 embedding)
    head_init = linear_init(self.init, h.shape[-1])
    if self.head_bias is not None:  # > 0 starts towards F (fine-tune), < 0 towards S
      head_init['bias_init'] = nn.initializers.constant(self.head_bias)
    logits = nn.Dense(features, name=f'head_{i}', **head_init)(h)
    return self._decide(logits, state, name, (lstm_carry, train))


@struct.dataclass
class _Image:
  """The CNN gate's carry until its first gated layer: the image, and `train` as static
  data, so that a block lifted by `nn.remat` passes it on as a Python bool."""
  images: jax.Array
  train: bool = struct.field(pytree_node=False)


class CNNGate(_Gate):
  """Table 4's ablation: decisions for every layer from one ResNet-18 look at the image."""
  trunk: ModuleDef   # a headless ResNet returning pooled features (the model's BN axis)
  init: str          # the heads': 'torch' | 'flax'

  def init_state(self, images, train: bool) -> GateState:
    return GateState(_Image(images, train), {})

  @nn.compact
  def __call__(self, x, state: GateState, name: str, features: int):
    i = len(state.decisions)
    carry = state.carry
    if i == 0:  # first gated layer: look at the image once, keep the pooled features
      carry, _ = self.trunk(name='trunk')(carry.images, carry.train)
      carry = carry.astype(jnp.float32)
    logits = nn.Dense(features, name=f'head_{i}',
                      **linear_init(self.init, carry.shape[-1]))(carry)
    return self._decide(logits, state, name, carry)


class RandomGate(_Gate):
  """The random-policy baseline: no parameters, fresh Bernoulli(p) per example/channel."""
  p: float

  def init_state(self, images, train: bool) -> GateState:
    return GateState(None, {})

  def __call__(self, x, state: GateState, name: str, features: int):
    g = jax.random.bernoulli(self.make_rng('gate'), self.p, (x.shape[0], features))
    return self._decide(jnp.where(g, 1.0, -1.0), state, name, None)
