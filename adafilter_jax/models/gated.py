"""The gated unit: AdaFilter's filter selection (Eq. 1) with gated batch norm (Eq. 5).

Per gated conv: a trainable copy ``conv_ft`` (F) and a frozen copy ``conv_pre`` (S) of
the pretrained filters. With decisions G in {0,1}^[batch, channels] from the shared gate:

  gated BN (default, Eq. 5):  y = G * bn_ft(F(x)) + (1 - G) * bn_pre(S(x))
  standard BN (Eq. 6):        y = bn(G * F(x) + (1 - G) * S(x))

Since G multiplies F's output channel-wise, a channel of F receives gradient only from
the examples whose gate picked it. S's kernel is a param behind `stop_gradient`: saved,
loaded and converted like any other, never moved. A layer the gate does not cover
(`gates.is_gated`) is a plain `ConvBN` with the same param names as the plain ResNet.
"""
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from adafilter_jax.models.layers import Conv, batch_norm, conv_bn


class GatedConvBN(nn.Module):
  features: int
  kernel_size: int
  strides: int = 1
  padding: int = 0
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  gate: Any = None              # the model's shared gate module (gates.py)
  gated_bn: bool = True         # Eq. 5; False: one BN after the mix (Eq. 6)

  @nn.compact
  def __call__(self, x, state, train: bool):
    name = '/'.join(self.path)
    if not self.gate.is_gated(name):
      return conv_bn(self, x, train), state
    g, state = self.gate(x, state, name, self.features)
    conv = dict(features=self.features, kernel_size=self.kernel_size, strides=self.strides,
                padding=self.padding, dtype=self.dtype)
    f = Conv(**conv, name='conv_ft')(x)
    s = Conv(**conv, frozen=True, name='conv_pre')(x)
    g = g[:, None, None, :].astype(f.dtype)
    bn = lambda name: batch_norm(train, self.bn_axis_name, name, self.dtype)
    if self.gated_bn:
      y = g * bn('bn_ft')(f) + (1 - g) * bn('bn_pre')(s)
    else:
      y = bn('bn')(g * f + (1 - g) * s)
    return y, state
