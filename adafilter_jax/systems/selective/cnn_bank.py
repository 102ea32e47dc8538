"""CNN filter banks: the first two conv layers of a pretrained network, histogrammed
BEFORE their ReLU (as the official code does).

Two are offered (the paper used Caffe's AlexNet, 96 + 256 filters with LRN):
- `ResNetStemBank`: the stem of any converted ResNet of this project (`python -m
  adafilter_jax.weights.convert`, or the demo's own weights): conv1 (7x7/2) + its BN, then ReLU,
  max-pool 3/2, and layer1_0/conv1 + its BN; the two BN outputs are the responses.
- `AlexNetBank`: torchvision's AlexNet `state_dict` (features.0: 64 11x11/4 filters;
  ReLU; max-pool 3/2; features.3: 192 5x5 filters, no LRN), read with
  `alexnet_from_torch`; the two conv outputs (bias added) are the responses.
Input: uint8 images already resized and centre-cropped (the eval transform), then
ImageNet-normalised. Each channel weighs 1/N_layer in Eq. 1.
"""
import dataclasses
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax.data.config import IMAGENET_MEAN, IMAGENET_STD


@dataclasses.dataclass(frozen=True)
class ConvLayer:
  kernel: np.ndarray   # [kh, kw, in, out]
  scale: np.ndarray    # [out], applied after the conv (a folded BN, or ones)
  shift: np.ndarray    # [out] (the BN's shift, or the conv bias)
  stride: int
  padding: int


def _conv(x, layer: ConvLayer):
  y = jax.lax.conv_general_dilated(
      x, jnp.asarray(layer.kernel), (layer.stride,) * 2, [(layer.padding,) * 2] * 2,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=jax.lax.Precision.HIGHEST)
  return y * layer.scale + layer.shift


def _max_pool(x, window, stride, padding):
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, window, window, 1),
                               (1, stride, stride, 1),
                               [(0, 0), (padding, padding), (padding, padding), (0, 0)])


class TwoLayerBank:
  """conv1 -> [response] -> ReLU -> max-pool -> conv2 -> [response]."""

  def __init__(self, name: str, conv1: ConvLayer, conv2: ConvLayer, pool_padding: int,
               image_size: int, source: str):
    self.name, self.image_size, self.source = name, image_size, source
    self.conv1, self.conv2, self.pool_padding = conv1, conv2, pool_padding
    self.layer_sizes = (conv1.kernel.shape[-1], conv2.kernel.shape[-1])
    self._fn = jax.jit(self._responses)

  def settings(self) -> dict:
    return {'bank': self.name, 'image_size': self.image_size, 'weights': self.source,
            'checksum': float(np.abs(self.conv1.kernel).sum() + np.abs(self.conv2.kernel).sum())}

  def _responses(self, images):
    mean = jnp.asarray(IMAGENET_MEAN) * 255.0
    std = jnp.asarray(IMAGENET_STD) * 255.0
    x = (images.astype(jnp.float32) - mean) / std
    r1 = _conv(x, self.conv1)
    r2 = _conv(_max_pool(jax.nn.relu(r1), 3, 2, self.pool_padding), self.conv2)
    return r1, r2

  def responses(self, images):
    return self._fn(jnp.asarray(images))


def _folded_bn(params, stats, eps=1e-5) -> Tuple[np.ndarray, np.ndarray]:
  scale = np.asarray(params['scale']) / np.sqrt(np.asarray(stats['var']) + eps)
  return scale, np.asarray(params['bias']) - np.asarray(stats['mean']) * scale


def resnet_stem_bank(variables: dict, image_size: int = 224, source: str = '') -> TwoLayerBank:
  """From a plain ResNet's ``{'params', 'batch_stats'}`` (pretrained.load)."""
  units = []
  for name, stride, pad in (('conv1', 2, 3), ('layer1_0/conv1', 1, None)):
    p, s = variables['params'], variables['batch_stats']
    for part in name.split('/'):
      p, s = p[part], s[part]
    kernel = np.asarray(p['conv']['kernel'], np.float32)
    scale, shift = _folded_bn(p['bn'], s['bn'])
    pad = (kernel.shape[0] - 1) // 2 if pad is None else pad
    units.append(ConvLayer(kernel, scale.astype(np.float32), shift.astype(np.float32),
                           stride, pad))
  return TwoLayerBank('resnet_stem', units[0], units[1], 1, image_size, source)


def alexnet_from_torch(state_dict) -> Tuple[ConvLayer, ConvLayer]:
  """torchvision AlexNet ``features.0`` and ``features.3`` -> two ConvLayers."""
  layers = []
  for key, stride, pad in (('features.0', 4, 2), ('features.3', 1, 2)):
    w = np.asarray(state_dict[f'{key}.weight'], np.float32)
    if w.ndim != 4:
      raise ValueError(f'{key}.weight has shape {w.shape}: not an AlexNet conv.')
    b = np.asarray(state_dict[f'{key}.bias'], np.float32)
    layers.append(ConvLayer(w.transpose(2, 3, 1, 0), np.ones_like(b), b, stride, pad))
  return layers[0], layers[1]


def alexnet_bank(path: str, image_size: int = 224) -> TwoLayerBank:
  """From torchvision's ``alexnet-owt-7be5be79.pth`` (needs torch to read it)."""
  import torch  # pylint: disable=g-import-not-at-top
  sd = torch.load(path, map_location='cpu', weights_only=True)
  conv1, conv2 = alexnet_from_torch({k: v.numpy() for k, v in sd.items()})
  return TwoLayerBank('alexnet', conv1, conv2, 0, image_size, path)


def channel_weights(layer_sizes) -> np.ndarray:
  """w_h = 1/N_h: every layer weighs the same in Eq. 1."""
  return np.concatenate([np.full(n, 1.0 / n, np.float32) for n in layer_sizes])


def make_bank(kind: str, image_size: int, weights: str = '', variables: Optional[dict] = None):
  """'gabor' | 'resnet_stem' (converted ResNet at `weights`) | 'alexnet' (a .pth)."""
  from adafilter_jax.weights import pretrained  # pylint: disable=g-import-not-at-top
  from adafilter_jax.systems.selective import gabor  # pylint: disable=g-import-not-at-top
  if kind == 'gabor':
    return gabor.GaborBank(image_size)
  if kind == 'resnet_stem':
    return resnet_stem_bank(variables or pretrained.load(weights), image_size, weights)
  if kind == 'alexnet':
    return alexnet_bank(weights, image_size)
  raise ValueError(f"unknown filter bank {kind!r} (selective.bank): 'gabor', "
                   "'resnet_stem' or 'alexnet'.")
