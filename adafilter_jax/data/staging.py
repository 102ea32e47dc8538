"""Preparing a dataset without losing one: the new version is written aside and moved into
place whole, and a preparation that fails leaves nothing of its own behind.

`prepare_staged` runs a fresh builder in a staging data_dir (`<data_dir>/.preparing-*`)
and renames its version folder into place once complete, so a prepared copy is replaced
only by a whole new one and a failure leaves it as it was. `removed_if_it_fails` clears
what a failed attempt left in the data_dir (TFDS's partial downloads, empty folders).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import tensorflow_datasets as tfds


def _entries(root: str, depth: int = 3) -> set[str]:
  """Paths under `root` down to `depth` levels: the datasets' and the download cache's
  folders and files, not the prepared shards or extracted archives inside them."""
  found, level = set(), [root]
  for _ in range(depth):
    level = [os.path.join(d, n) for d in level if os.path.isdir(d) for n in os.listdir(d)]
    found.update(level)
  return found


@contextlib.contextmanager
def removed_if_it_fails(data_dir: str):
  """A failed preparation's leftovers in data_dir (TFDS's partial `*.tmp.*` downloads,
  unfinished extractions, the empty folders made for them) are removed; whatever was
  there before stays, earlier partial downloads included."""
  existed, before = os.path.isdir(data_dir), _entries(data_dir)
  try:
    yield
  except BaseException:
    for path in sorted(_entries(data_dir) - before, key=len, reverse=True):  # deepest first
      name = os.path.basename(path)
      if '.tmp.' in name or name.endswith('.incomplete'):
        shutil.rmtree(path, ignore_errors=True)
      elif os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
    if not existed and os.path.isdir(data_dir) and not os.listdir(data_dir):
      os.rmdir(data_dir)
    raise


def prepare_staged(name: str, data_dir: str, target: str, make_builder, *,
                    folder: str | None, record: dict | None) -> tfds.core.DatasetBuilder:
  """Prepares `name` in a staging data_dir beside `target` (its version directory) and
  moves it there once complete: a failure leaves `target` as it was, and a prepared copy
  is replaced only by a whole new one. Downloads go to data_dir's own cache, kept."""
  os.makedirs(data_dir, exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.preparing-', dir=data_dir)
  try:
    builder = make_builder(staging)
    # A fresh builder: one reading the prepared copy would keep its class names.
    builder.download_and_prepare(
        download_dir=os.path.join(data_dir, 'downloads'),
        download_config=tfds.download.DownloadConfig(manual_dir=folder))
    new = os.fspath(builder.data_dir)
    if record is not None:
      from adafilter_jax.data.builders import image_folder  # pylint: disable=g-import-not-at-top
      image_folder.write_record(new, record)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    # TFDS's record of the builder's default config, beside its configs' folders.
    config_dir = os.path.join(name.split('/')[0], '.config')
    if (os.path.isdir(os.path.join(staging, config_dir)) and
        not os.path.exists(os.path.join(data_dir, config_dir))):
      os.rename(os.path.join(staging, config_dir), os.path.join(data_dir, config_dir))
    if os.path.exists(target):
      os.rename(target, os.path.join(staging, 'previous'))
    os.rename(new, target)
    return builder
  finally:
    shutil.rmtree(staging, ignore_errors=True)
