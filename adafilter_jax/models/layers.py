"""The torchvision-exact building blocks every model here is made of.

A *unit* is a convolution followed by its batch norm, called as ``unit(x, train)``
(`ConvBN`). The networks are plain: AdaFilter reaches their convs and norms from
outside (transform.py), so no gate appears in a block's signature.

The new layers (a ResNet's head, a gate's embeddings, LSTM cell and heads) start as
torch's modules do by default (the paper's code is PyTorch), or as flax's, or at zero:
`linear_init`, `lstm_init` (docs/method.md, "Initialisation").
"""
import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models import convs

ModuleDef = Any


@jax.custom_vjp
def relu(x):
  """max(x, 0), as `nn.relu`, with its gradient mask read from the output behind a barrier
  (the same mask: y > 0 exactly where x > 0, so the same numbers). `nn.relu`'s reads the
  input, which XLA then keeps or recomputes for the backward: after a gated unit, from
  both branches' conv outputs, which stay alive for it even where the unit recomputes
  S(x) (BENCHMARKS.md, "ReLU's mask"); the output is the next layer's input, kept anyway.
  Without the barrier XLA rewrites max(x, 0) > 0 into x > 0 again."""
  return jnp.maximum(x, 0)


def _relu_fwd(x):
  y = jnp.maximum(x, 0)
  return y, y


def _relu_bwd(y, dy):
  y, dy = jax.lax.optimization_barrier((y, dy))
  return (jnp.where(y > 0, dy, jnp.zeros_like(dy)),)


relu.defvjp(_relu_fwd, _relu_bwd)


# torchvision's kaiming_normal_(mode='fan_out', nonlinearity='relu').
conv_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


class Conv(nn.Module):
  """Bias-free conv with torchvision's explicit symmetric padding (never 'SAME').

  `frozen=True` stops the gradient at the kernel: the kernel is still a param (it is
  saved with checkpoints and loaded like any other), but no optimizer can move it and
  XLA drops the weight-gradient convolution entirely.

  `impl` picks how the convolution is computed (convs.IMPLS; a ResNet takes the conv as
  a module class, so a variant is ``functools.partial(Conv, impl=...)``, see `CONVS`).
  `kernel_only=True` returns the kernel without convolving (AdaFilter's fused eval
  mixes kernels before convolving).
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


def unwrap(module_def) -> tuple:
  """A Module class, or partials of one -> (the class, its bound args, its bound kwargs):
  what a linen transform (`nn.remat`, `nn.map_variables`) needs, the class."""
  args, kwargs = (), {}
  while isinstance(module_def, functools.partial):
    args, kwargs = module_def.args + args, {**module_def.keywords, **kwargs}
    module_def = module_def.func
  return module_def, args, kwargs


def remat(block_def):
  """A residual block (a class or partials of one, called ``(x, train)``) whose
  activations are recomputed in the backward pass instead of kept (config.model.remat):
  only each block's input stays in memory between the passes. Same numbers."""
  cls, args, kwargs = unwrap(block_def)
  return functools.partial(nn.remat(cls, static_argnums=(2,)), *args, **kwargs)  # 2: train


# config.model.conv_impl -> the conv module every unit builds its convs with.
CONVS = {impl: functools.partial(Conv, impl=impl) for impl in convs.IMPLS}


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
  """conv -> bn, the unit; param paths ``<unit>/conv/kernel``, ``<unit>/bn/*``.

  `lean`: ``lean(conv, bn, x)`` (models/lean.py's `plain_unit`, config.model.lean_units)
  computes both in training with a backward that keeps less, from the same variables;
  where it returns None (a setting it lacks, initialisation) they run as modules.
  """
  features: int
  kernel_size: int
  strides: int = 1
  padding: int = 0
  bn_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  conv: ModuleDef = Conv
  lean: Optional[Callable] = None

  @nn.compact
  def __call__(self, x, train: bool):
    conv = self.conv(self.features, self.kernel_size, self.strides, self.padding,
                     dtype=self.dtype, name='conv')
    bn = batch_norm(train, self.bn_axis_name, 'bn', self.dtype)
    y = self.lean(conv, bn, x) if self.lean is not None and train else None
    return bn(conv(x)) if y is None else y


def _uniform(bound: float):
  """U(-bound, bound), torch's `nn.init.uniform_(t, -bound, bound)`."""
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                   -bound, bound)


INITS = ('torch', 'flax', 'zeros')


def linear_init(kind: str, fan_in: int) -> dict:
  """`nn.Dense` initialisers: 'torch' = `torch.nn.Linear`'s default, U(+-1/sqrt(fan_in))
  for weight and bias; 'flax' = flax's (lecun_normal weight, zero bias); 'zeros' =
  both zero (BiT's head)."""
  if kind == 'torch':
    return dict(kernel_init=_uniform(fan_in ** -0.5), bias_init=_uniform(fan_in ** -0.5))
  if kind == 'flax':
    return {}
  if kind == 'zeros':
    return dict(kernel_init=nn.initializers.zeros, bias_init=nn.initializers.zeros)
  raise ValueError(f'init must be one of {INITS}, got {kind!r}')


def lstm_init(kind: str, hidden: int) -> dict:
  """`nn.OptimizedLSTMCell` initialisers. 'torch' = `torch.nn.LSTMCell`'s default: every
  weight U(+-1/sqrt(hidden)), and biases b_ih, b_hh each U(+-1/sqrt(hidden)); flax's cell
  has one bias, the sum b_ih + b_hh is what enters the gates, so it is drawn as that sum
  (the same distribution of the cell's function at init). 'flax' = flax's defaults."""
  if kind == 'flax':
    return {}
  if kind != 'torch':
    raise ValueError(f"gate_init must be 'torch' or 'flax', got {kind!r}")
  u = _uniform(hidden ** -0.5)

  def two_biases(key, shape, dtype=jnp.float32):
    k1, k2 = jax.random.split(key)
    return u(k1, shape, dtype) + u(k2, shape, dtype)

  return dict(kernel_init=u, recurrent_kernel_init=u, bias_init=two_biases)
