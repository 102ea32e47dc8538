"""The 48-filter Gabor bank of Manjunath & Ma (1996): 4 scales x 6 orientations x
{real, imaginary}, no weights needed.

Mother wavelet g(x, y) = 1/(2 pi sx sy) exp(-(x^2/sx^2 + y^2/sy^2)/2 + 2 pi j W x) with
W = U_h; filter (m, n) is a^-m g(x', y'), x' = a^-m (x cos t + y sin t),
y' = a^-m (-x sin t + y cos t), t = n pi / K. With U_h = 0.4, U_l = 0.05, S = 4, K = 6:
a = 2, centre frequencies 0.4, 0.2, 0.1, 0.05 cycles/px, sx ~ 1.41 px, sy ~ 1.85 px at
the finest scale (x2 per coarser one). The paper gives neither support nor colour:
grey input, a +-3 sigma box per scale, real parts made zero-mean, 'same' FFT convolution.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

U_H, U_L, SCALES, ORIENTATIONS = 0.4, 0.05, 4, 6


def parameters(u_h=U_H, u_l=U_L, scales=SCALES, orientations=ORIENTATIONS):
  """(a, sigma_x, sigma_y) of the finest scale, Manjunath & Ma Eq. (3)-(4)."""
  a = (u_h / u_l) ** (1.0 / (scales - 1))
  ln2 = 2 * math.log(2)  # the paper's "2 ln 2"
  s_u = (a - 1) * u_h / ((a + 1) * math.sqrt(ln2))
  s_v = (math.tan(math.pi / (2 * orientations)) * (u_h - ln2 * s_u**2 / u_h)
         / math.sqrt(ln2 - ln2**2 * s_u**2 / u_h**2))
  return a, 1 / (2 * math.pi * s_u), 1 / (2 * math.pi * s_v)


def centre_frequencies():
  a, _, _ = parameters()
  return [U_H / a**m for m in range(SCALES)]


def kernels():
  """Complex kernels [S, K, k, k] (common odd size k: the coarsest scale's +-3 sigma box;
  finer ones are zero outside their own box) -> (real/imag stacked later)."""
  a, sx, sy = parameters()
  half = int(math.ceil(3 * max(sx, sy) * a**(SCALES - 1)))
  y, x = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
  out = np.zeros((SCALES, ORIENTATIONS, 2 * half + 1, 2 * half + 1), np.complex128)
  for m in range(SCALES):
    box = int(math.ceil(3 * max(sx, sy) * a**m))
    inside = (np.abs(x) <= box) & (np.abs(y) <= box)
    for n in range(ORIENTATIONS):
      t = n * math.pi / ORIENTATIONS
      xr = a**-m * (x * math.cos(t) + y * math.sin(t))
      yr = a**-m * (-x * math.sin(t) + y * math.cos(t))
      g = (a**-m / (2 * math.pi * sx * sy) * np.exp(-0.5 * (xr**2 / sx**2 + yr**2 / sy**2))
           * np.exp(2j * math.pi * U_H * xr))
      g = np.where(inside, g, 0)
      g.real[inside] -= g.real[inside].mean()  # a flat image responds 0
      out[m, n] = g
  return out


def filter_bank() -> np.ndarray:
  """[48, k, k] float32: the 24 real parts, then the 24 imaginary parts."""
  k = kernels().reshape(SCALES * ORIENTATIONS, *kernels().shape[2:])
  return np.concatenate([k.real, k.imag]).astype(np.float32)


GREY = (0.299, 0.587, 0.114)


class GaborBank:
  """responses(uint8 [N, H, W, 3]) -> ([N, H, W, 48],): one layer of 48 channels."""

  name = 'gabor'

  def __init__(self, image_size: int):
    self.image_size = image_size
    self.filters = filter_bank()
    self.layer_sizes = (self.filters.shape[0],)
    self._fn = jax.jit(self._responses)

  def settings(self) -> dict:
    return {'bank': self.name, 'image_size': self.image_size, 'u_h': U_H, 'u_l': U_L,
            'scales': SCALES, 'orientations': ORIENTATIONS}

  def _responses(self, images):
    grey = jnp.tensordot(images.astype(jnp.float32) / 255.0, jnp.asarray(GREY), axes=1)
    n, h, w = grey.shape
    k = self.filters.shape[-1]
    size = (h + k - 1, w + k - 1)
    spec = jnp.fft.rfft2(grey, s=size)[:, None] * jnp.fft.rfft2(
        jnp.asarray(self.filters), s=size)[None]
    full = jnp.fft.irfft2(spec, s=size)
    c = (k - 1) // 2
    return (jnp.moveaxis(full[:, :, c:c + h, c:c + w], 1, -1),)

  def responses(self, images):
    return self._fn(jnp.asarray(images))
