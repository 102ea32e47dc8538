"""Reduced-scale JPEG decoding (fast_decode) against the full decode, same crop windows."""

import io

import numpy as np
import pytest
from PIL import Image

from adafilter_jax.data import transforms

# Mean |fast - full| per image in 0..255 levels. Measured: <= 0.45 on this image
# (1.35 on an upscaled photo); a window misplaced by one reduced pixel gives > 3 here.
MEAN_ABS_TOL = 1.5


def _jpeg(w, h, fmt='JPEG'):
  yy, xx = np.mgrid[0:h, 0:w]
  arr = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1),
                  128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 13.0)], -1).astype(np.uint8)
  b = io.BytesIO()
  Image.fromarray(arr).save(b, format=fmt, **({'quality': 90} if fmt == 'JPEG' else {}))
  return b.getvalue()


@pytest.mark.parametrize('size', [(1201, 901), (2000, 1500)])
def test_train_fast_decode_close_to_full_decode(size):
  data = _jpeg(*size)
  reduced = 0
  for i in range(12):
    r_fast, r_full = np.random.default_rng([0, 1, i]), np.random.default_rng([0, 1, i])
    fast = transforms.train_image(data, 224, r_fast, fast_decode=True)
    full = transforms.train_image(data, 224, r_full, fast_decode=False)
    assert fast.shape == full.shape == (224, 224, 3) and fast.dtype == np.uint8
    # The same RNG draws, in the same order: the stream is unchanged.
    assert r_fast.bit_generator.state == r_full.bit_generator.state
    diff = np.abs(fast.astype(np.int16) - full.astype(np.int16))
    assert diff.mean() <= MEAN_ABS_TOL, (i, diff.mean())
    # Did this window allow a reduced decode? (Window drawn exactly as train_image does.)
    img = transforms.open_image(data)
    box = transforms.random_crop_box(*img.size, np.random.default_rng([0, 1, i]))
    img, _ = transforms._draft(img, box, 224)  # pylint: disable=protected-access
    reduced += img.size != size
  assert reduced >= 3  # the test exercises the reduced path, not only the full one


def test_eval_fast_decode_close_to_full_decode():
  data = _jpeg(1200, 900)
  img = transforms.open_image(data)
  img, _ = transforms._draft(img, (288, 99, 1012, 801), 224)  # pylint: disable=protected-access
  assert img.size == (600, 450)  # 900 * 256/900 -> short side 450 >= 256: 1/2 scale
  fast = transforms.eval_image(data, 224, 256, fast_decode=True)
  full = transforms.eval_image(data, 224, 256, fast_decode=False)
  assert fast.shape == full.shape == (224, 224, 3)
  assert np.abs(fast.astype(np.int16) - full.astype(np.int16)).mean() <= MEAN_ABS_TOL


@pytest.mark.parametrize('fmt,size', [('JPEG', (500, 375)), ('PNG', (1200, 900))])
def test_no_reduction_is_bit_identical(fmt, size):
  # 500x375 JPEGs never allow a reduction at 224; PNGs take the plain path.
  data = _jpeg(*size, fmt=fmt)
  for i in range(8):
    np.testing.assert_array_equal(
        transforms.train_image(data, 224, np.random.default_rng(i), fast_decode=True),
        transforms.train_image(data, 224, np.random.default_rng(i), fast_decode=False))
  np.testing.assert_array_equal(transforms.eval_image(data, 224, 256, fast_decode=True),
                                transforms.eval_image(data, 224, 256, fast_decode=False))


def test_crop_resize_flip_composition():
  """The train transform = PIL box resize of the drawn window, then a mirror of the
  columns when the next draw is < 0.5 (checked against numpy's reversal)."""
  data = _jpeg(300, 200)
  flips = set()
  for i in range(8):
    rng = np.random.default_rng(i)
    out = transforms.train_image(data, 64, rng, fast_decode=False)
    rng = np.random.default_rng(i)
    box = transforms.random_crop_box(300, 200, rng)
    ref = np.asarray(transforms.open_image(data).convert('RGB').resize(
        (64, 64), Image.BILINEAR, box=box))
    flipped = rng.random() < 0.5
    flips.add(flipped)
    np.testing.assert_array_equal(out, ref[:, ::-1] if flipped else ref)
  assert flips == {True, False}
