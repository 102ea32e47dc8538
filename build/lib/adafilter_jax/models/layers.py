"""The torchvision-exact building blocks every model here is made of.

A *unit* is a convolution followed by its batch norm, called as
``unit(x, gate_state, train) -> (y, gate_state)``. The plain `ConvBN` passes
`gate_state` through untouched; AdaFilter's `GatedConvBN` (gated.py) reads and
advances it. ResNet blocks are written once against that signature.
"""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models import convs

# torchvision's kaiming_normal_(mode='fan_out', nonlinearity='relu').
conv_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


class Conv(nn.Module):
  """Bias-free conv with torchvision's explicit symmetric padding (never 'SAME').

  `frozen=True` stops the gradient at the kernel: the kernel is still a param (it is
  saved with checkpoints and loaded like any other), but no optimizer can move it and
  XLA drops the weight-gradient convolution entirely.

  `impl` picks how the convolution is computed (convs.py: 'xla' = lax.conv, the
  default; 'matmul' / 'mixed' / 'hybrid' compute the same values with faster CPU
  backward passes). `kernel_only=True` returns the kernel (AdaFilter's eval fast path
  mixes kernels before convolving) without convolving.
  """
  features: int
  kernel_size: int
  strides: int = 1
  padding: int = 0
  frozen: bool = False
  dtype: Any = jnp.float32
  impl: str = 'xla'

  @nn.compact
  def __call__(self, x, kernel_only: bool = False):
    kernel = self.param('kernel', conv_init,
                        (self.kernel_size, self.kernel_size, x.shape[-1], self.features),
                        jnp.float32)
    if self.frozen:
      kernel = jax.lax.stop_gradient(kernel)
    if kernel_only:
      return kernel
    return convs.conv(x.astype(self.dtype), kernel.astype(self.dtype), self.strides,
                      self.padding, self.impl)


def batch_norm(train: bool, axis_name: Optional[str] = None, name: Optional[str] = None,
               dtype: Any = jnp.float32) -> nn.BatchNorm:
  """torchvision's BatchNorm2d: eps 1e-5, running stats updated by 0.1 per step.

  `axis_name` makes the statistics those of the global batch under pmap, so a
  multi-device step computes what a one-device step on the same batch computes.
  (torch updates the running variance with the unbiased batch variance, flax with the
  biased one: a factor n/(n-1) on the update, negligible at the batch sizes used.)
  """
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      axis_name=axis_name if train else None, dtype=dtype, name=name)


class ConvBN(nn.Module):
  """conv -> bn, the plain unit; param paths ``<unit>/conv/kernel``, ``<unit>/bn/*``."""
  features: int
  kernel_size: int
  strides: int = 1
  padding: int = 0
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  conv_impl: str = 'xla'        # convs.IMPLS

  @nn.compact
  def __call__(self, x, gate_state, train: bool):
    return conv_bn(self, x, train), gate_state


def conv_bn(unit: nn.Module, x, train: bool):
  """The plain conv -> bn, built as children ``conv`` and ``bn`` of `unit` (called from
  inside its compact method), so every unit without a gate has the same param paths."""
  y = Conv(unit.features, unit.kernel_size, unit.strides, unit.padding, dtype=unit.dtype,
           impl=unit.conv_impl, name='conv')(x)
  return batch_norm(train, unit.bn_axis_name, 'bn', unit.dtype)(y)
