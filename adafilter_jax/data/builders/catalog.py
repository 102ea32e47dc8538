"""TFDS catalog builders (Stanford Dogs, Visual Decathlon, Oxford Flowers 102, ImageNet
2012) prepared as ArrayRecord, TF-free.

In tensorflow-datasets 4.9.10 these builders, and TFDS's archive extractor, call a few
`tf.io.gfile` / `tf.compat` functions while preparing. Where TensorFlow is absent, the
module-level `tf` of exactly those modules is pointed at a small shim over the local
file system; reading the prepared data never needs it. imagenet2012 also re-encodes its
22 CMYK JPEGs and its one PNG-in-a-.JPEG as RGB JPEGs through TensorFlow's image ops;
without TensorFlow those two TFDS helpers are given PIL equivalents. With TensorFlow
installed the shim is not used.
"""

from __future__ import annotations

import importlib
import io
import os
import types

from etils import epath
from PIL import Image
import tensorflow_datasets as tfds

# Modules whose `tf` is replaced when TensorFlow is missing.
_PATCHED_MODULES = (
    'tensorflow_datasets.core.download.extractor',
    'tensorflow_datasets.datasets.stanford_dogs.stanford_dogs_dataset_builder',
    'tensorflow_datasets.datasets.oxford_flowers102.oxford_flowers102_dataset_builder',
    'tensorflow_datasets.image_classification.visual_domain_decathlon',
    'tensorflow_datasets.datasets.imagenet2012.imagenet2012_dataset_builder',
    'tensorflow_datasets.datasets.imagenet2012.imagenet_common',
)


def _as_text(x, encoding='utf-8'):
  return x.decode(encoding) if isinstance(x, bytes) else x


_TF_SHIM = types.SimpleNamespace(
    io=types.SimpleNamespace(gfile=types.SimpleNamespace(
        GFile=lambda path, mode='r': epath.Path(path).open(mode),
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


def _tensorflow_available() -> bool:
  try:
    importlib.import_module('tensorflow')
    return True
  except ImportError:
    return False


def _install_shim() -> None:
  if _tensorflow_available():
    return
  for name in _PATCHED_MODULES:
    module = importlib.import_module(name)
    module.tf = _TF_SHIM
  # imagenet2012 calls these as tfds.core.utils.<name> at generation time.
  utils = importlib.import_module('tensorflow_datasets.core.utils')
  utils.jpeg_cmyk_to_rgb = utils.png_to_jpeg = _to_rgb_jpeg


def builder(name: str, *, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """The catalog builder `name`, writing ArrayRecord (needed for `data_source`)."""
  _install_shim()
  return tfds.builder(name, data_dir=data_dir, file_format='array_record')
