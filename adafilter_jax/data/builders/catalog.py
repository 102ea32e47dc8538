"""TFDS catalog builders (Stanford Dogs, Visual Decathlon, Oxford Flowers 102) prepared as
ArrayRecord, TF-free.

In tensorflow-datasets 4.9.10 these builders, and TFDS's archive extractor, call a few
`tf.io.gfile` / `tf.compat` functions while preparing. Where TensorFlow is absent, the
module-level `tf` of exactly those modules is pointed at a small shim over the local
file system; reading the prepared data never needs it. With TensorFlow installed the
shim is not used.
"""

from __future__ import annotations

import importlib
import os
import types

from etils import epath
import tensorflow_datasets as tfds

# Modules whose `tf` is replaced when TensorFlow is missing.
_PATCHED_MODULES = (
    'tensorflow_datasets.core.download.extractor',
    'tensorflow_datasets.datasets.stanford_dogs.stanford_dogs_dataset_builder',
    'tensorflow_datasets.datasets.oxford_flowers102.oxford_flowers102_dataset_builder',
    'tensorflow_datasets.image_classification.visual_domain_decathlon',
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


def builder(name: str, *, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """The catalog builder `name`, writing ArrayRecord (needed for `data_source`)."""
  _install_shim()
  return tfds.builder(name, data_dir=data_dir, file_format='array_record')
