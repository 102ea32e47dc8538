"""TFDS catalog builders (Stanford Dogs, Visual Decathlon, Oxford Flowers 102, ImageNet
2012, CUB-200-2011, Stanford Cars, Omniglot) prepared as ArrayRecord, TF-free.

In tensorflow-datasets 4.9.10 these builders, and TFDS's archive extractor, call a few
`tf.io.gfile` / `tf.compat` functions while preparing. Where TensorFlow is absent, the
module-level `tf` of exactly those modules is pointed at a small shim over the local
file system; reading the prepared data never needs it. Where TFDS does image work
through TensorFlow's image ops, PIL stands in: imagenet2012 re-encodes its 22 CMYK
JPEGs and its one PNG-in-a-.JPEG as RGB JPEGs, and a numpy image given to a
`tfds.features.Image` (caltech_birds2011's segmentation masks) is encoded as PNG/JPEG.
caltech_birds2011 also decodes those masks with OpenCV; without OpenCV its `imdecode`
gets a PIL equivalent. Each stand-in is installed only where its library is missing.
"""

from __future__ import annotations

import importlib
import io
import os
import types

from etils import epath
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds
from tensorflow_datasets.core import lazy_imports_lib
from tensorflow_datasets.core.features import image_feature

from adafilter_jax.data.builders import common

# Modules whose `tf` is replaced when TensorFlow is missing.
_PATCHED_MODULES = (
    'tensorflow_datasets.core.download.extractor',
    'tensorflow_datasets.datasets.stanford_dogs.stanford_dogs_dataset_builder',
    'tensorflow_datasets.datasets.oxford_flowers102.oxford_flowers102_dataset_builder',
    'tensorflow_datasets.image_classification.visual_domain_decathlon',
    'tensorflow_datasets.datasets.imagenet2012.imagenet2012_dataset_builder',
    'tensorflow_datasets.datasets.imagenet2012.imagenet_common',
    'tensorflow_datasets.image_classification.caltech_birds',
    'tensorflow_datasets.image_classification.cars196',
    'tensorflow_datasets.image_classification.omniglot',
)


def _as_text(x, encoding='utf-8'):
  return x.decode(encoding) if isinstance(x, bytes) else x


class _GFile:
  """tf.io.gfile.GFile on the local file system, with the one behaviour of TF's that a
  TFDS builder leans on: read after close() reopens the file (at its start, as TF's
  does). caltech_birds2011 reads its archive's members after the extractor's `with` has
  closed the archive; tarfile seeks to each member by its offset, so starting over is
  harmless."""

  def __init__(self, path, mode='r'):
    self._path, self._mode = path, mode
    self._file = epath.Path(path).open(mode)

  def _open(self):
    if self._file.closed and 'r' in self._mode:
      self._file = epath.Path(self._path).open(self._mode)
    return self._file

  # Spelled out, not only through __getattr__: readers such as scipy.io.loadmat look for
  # them with dir().
  def read(self, *args):
    return self._open().read(*args)

  def readline(self, *args):
    return self._open().readline(*args)

  def seek(self, *args):
    return self._open().seek(*args)

  def tell(self):
    return self._open().tell()

  def write(self, data):
    return self._file.write(data)

  def __getattr__(self, name):
    return getattr(self._open(), name)

  def __iter__(self):
    return iter(self._open())

  def close(self):
    self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()


_TF_SHIM = types.SimpleNamespace(
    io=types.SimpleNamespace(gfile=types.SimpleNamespace(
        GFile=_GFile,
        listdir=os.listdir, walk=os.walk, exists=os.path.exists,
        makedirs=lambda p: os.makedirs(p, exist_ok=True), isdir=os.path.isdir)),
    compat=types.SimpleNamespace(as_text=_as_text, as_str=_as_text),
)


def _to_rgb_jpeg(image_bytes: bytes, quality: int = 100) -> bytes:
  """TFDS's `jpeg_cmyk_to_rgb` / `png_to_jpeg` contract (any image bytes in, an RGB JPEG
  at `quality` out) without TensorFlow."""
  out = io.BytesIO()
  Image.open(io.BytesIO(image_bytes)).convert('RGB').save(out, 'JPEG', quality=quality)
  return out.getvalue()


# (dtype, channels) tf.image.encode_png takes and PIL writes as PNG (mode from the array).
_PNG = {('uint8', 1), ('uint8', 2), ('uint8', 3), ('uint8', 4), ('uint16', 1)}
_JPEG = {('uint8', 1), ('uint8', 3)}


def _encode_image(encoder, np_image: np.ndarray) -> bytes:
  """TFDS's `_ImageEncoder._encode_image` (a numpy image, validated against the
  feature's shape and dtype, to PNG or JPEG bytes) with PIL instead of tf.image."""
  image_feature._validate_np_array(np_image, shape=encoder.shape, dtype=encoder.np_dtype)  # pylint: disable=protected-access
  fmt = encoder.encoding_format
  if (np_image.dtype.name, np_image.shape[-1]) not in (_PNG if fmt == 'png' else _JPEG):
    raise ValueError(f'No TensorFlow to encode a {np_image.dtype} image of shape '
                     f'{np_image.shape} as {fmt}: PNG takes uint8 with 1-4 channels or '
                     'uint16 with 1, JPEG uint8 with 1 or 3; or install tensorflow.')
  out = io.BytesIO()
  image = Image.fromarray(np_image[..., 0] if np_image.shape[-1] == 1 else np_image)
  if fmt == 'png':
    image.save(out, 'PNG')
  else:
    image.save(out, 'JPEG', quality=95)  # tf.image.encode_jpeg's default
  return out.getvalue()


_IMREAD_GRAYSCALE = 0


def _imdecode_with_pil(buf: np.ndarray, flags: int) -> np.ndarray:
  """cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), the one OpenCV call caltech_birds2011
  makes, for 8-bit images (PIL's 'L' conversion uses OpenCV's luma weights)."""
  image = Image.open(io.BytesIO(buf.tobytes()))
  if flags != _IMREAD_GRAYSCALE or image.mode not in ('1', 'L', 'LA', 'P', 'RGB', 'RGBA'):
    raise ValueError(f'No OpenCV to decode a {image.mode} image with imdecode flags '
                     f'{flags}: only 8-bit images, grayscale (0); install opencv-python.')
  return np.asarray(image.convert('L'))


class _Cv2Shim:
  """Only imdecode; any other cv2 attribute fails as the missing module would."""

  imdecode = staticmethod(_imdecode_with_pil)

  def __getattr__(self, name):
    raise ImportError(f'cv2.{name}: OpenCV is not installed (pip install opencv-python); '
                      'without it only cv2.imdecode is provided, with PIL.')


def _module_available(name: str) -> bool:
  try:
    importlib.import_module(name)
    return True
  except ImportError:
    return False


def _install_shim() -> None:
  if not _module_available('cv2'):
    lazy_imports_lib.LazyImporter.cv2 = _Cv2Shim()
  if _module_available('tensorflow'):
    return
  for name in _PATCHED_MODULES:
    module = importlib.import_module(name)
    module.tf = _TF_SHIM
  # imagenet2012 calls these as tfds.core.utils.<name> at generation time.
  utils = importlib.import_module('tensorflow_datasets.core.utils')
  utils.jpeg_cmyk_to_rgb = utils.png_to_jpeg = _to_rgb_jpeg
  image_feature._ImageEncoder._encode_image = _encode_image  # pylint: disable=protected-access


# Builders whose registered download URLs no longer serve their files (cars196's: HTTP
# 404 since 2023): prepared only from copies in the manual dir, where TFDS's download
# manager takes a file named as its checksums register, if size and SHA-256 match.
_DEAD_URLS = ('cars196',)


def require_manual_copies(name: str, manual_dir: str | None) -> None:
  """For a builder with dead URLs, its files absent from `manual_dir` stop preparation
  with what to put where, instead of TFDS's download error."""
  if name not in _DEAD_URLS:
    return
  files = sorted({info.filename for info in tfds.builder_cls(name).url_infos.values()})
  missing = [f for f in files
             if not (manual_dir and os.path.exists(os.path.join(manual_dir, f)))]
  if missing:
    raise common.MissingManualFileError(
        f"{name}: TFDS's download URLs are dead; put the original {', '.join(missing)} "
        f'in --manual_dir ({manual_dir or "not given"}), byte-identical (TFDS checks '
        'their size and SHA-256). See docs/data.md.')


def builder(name: str, *, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """The catalog builder `name`, writing ArrayRecord (needed for `data_source`)."""
  _install_shim()
  return tfds.builder(name, data_dir=data_dir, file_format='array_record')
