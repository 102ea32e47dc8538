"""What every AdaFilter image builder shares: features, image encoding, bad files, splits.

TFDS without TensorFlow can store and read images, but cannot *encode* numpy arrays
(its encoder runs a TF graph), so images are handed to TFDS as already encoded bytes.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from typing import Iterable, Sequence

from absl import logging
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.ppm', '.tif', '.tiff', '.webp')


class CorruptImageError(ValueError):
  """An image file that PIL cannot decode; the message names the file."""


class MissingManualFileError(FileNotFoundError):
  """A manual-download file is absent; the message says what to get and where."""


def is_image_file(name: str) -> bool:
  return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def encode_image(path_or_bytes, *, name: str, crop_bottom: int = 0) -> bytes:
  """Returns encoded RGB image bytes, reusing the original bytes when they already are.

  Decoding fully here (not just `verify()`) is what catches truncated files at prepare
  time, so training never meets an undecodable record. Non-RGB images are converted
  because the pipeline and TFDS's Image(shape=(None, None, 3)) expect RGB; JPEG stays
  JPEG, anything else becomes PNG so no lossy step is added.
  """
  try:
    if isinstance(path_or_bytes, (bytes, bytearray)):
      raw = bytes(path_or_bytes)
    else:
      with open(path_or_bytes, 'rb') as f:
        raw = f.read()
    with Image.open(io.BytesIO(raw)) as img:
      fmt = img.format
      img.load()
      if fmt in ('JPEG', 'PNG') and img.mode == 'RGB' and not crop_bottom:
        return raw
      img = img.convert('RGB')
      if crop_bottom:
        img = img.crop((0, 0, img.width, img.height - crop_bottom))
      return pil_to_jpeg(img) if fmt == 'JPEG' else array_to_png(np.asarray(img))
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise CorruptImageError(f'Cannot decode image {name}: {type(e).__name__}: {e}') from e


def pil_to_jpeg(img: Image.Image, quality: int = 95) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format='JPEG', quality=quality)
  return buf.getvalue()


def array_to_png(array: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buf, format='PNG')
  return buf.getvalue()


def seeded_per_class_split(
    files_by_class: dict[str, Sequence[str]],
    *,
    num_train: int | None,
    num_eval: int | None = None,
    train_fraction: float | None = None,
    seed: int,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
  """Draws a train/eval split per class, the same for the same seed on every machine.

  Files are sorted before shuffling so the result does not depend on the file
  system's listing order; each class gets its own generator (seeded by seed and the
  class position) so adding or removing one class leaves the others' draws unchanged.
  Give `num_train` (and optionally `num_eval`; None = all the rest) or `train_fraction`.
  Returns two lists of (class_name, file) pairs.
  """
  train, evaluation = [], []
  for ci, cls in enumerate(sorted(files_by_class)):
    files = sorted(files_by_class[cls])
    order = np.random.default_rng([seed, ci]).permutation(len(files))
    shuffled = [files[i] for i in order]
    if train_fraction is not None:
      k = int(round(train_fraction * len(files)))
    else:
      k = num_train
      need = k + (num_eval or 0)
      if len(files) < need:
        raise ValueError(f'Class {cls!r} has {len(files)} images; the split needs {need}.')
    rest = shuffled[k:] if num_eval is None else shuffled[k:k + num_eval]
    train += [(cls, f) for f in shuffled[:k]]
    evaluation += [(cls, f) for f in rest]
  return train, evaluation


def require(path: str, what: str, instructions: str) -> str:
  """Returns `path` if it exists, else raises with what to download and where to put it."""
  if not os.path.exists(path):
    raise MissingManualFileError(
        f'Missing {what}: expected {path}\n{instructions.strip()}')
  return path


def first_existing(paths: Iterable[str]) -> str | None:
  for p in paths:
    if os.path.exists(p):
      return p
  return None


class ImageClassificationBuilder(tfds.core.GeneratorBasedBuilder):
  """Base for this project's builders: ArrayRecord by default, shared features, bad-file switch.

  `skip_corrupt=True` drops undecodable images (logged with a count) instead of
  failing; `allow_download=True` lets builders fetch their official archives when the
  manual directory does not have them (needs a network).
  """

  def __init__(self, *, skip_corrupt: bool = False, allow_download: bool = False,
               file_format: str = 'array_record', **kwargs):
    self.skip_corrupt = skip_corrupt
    self.allow_download = allow_download
    super().__init__(file_format=file_format, **kwargs)

  def _class_names(self) -> list[str] | None:
    """Names known without the data; None: set by `_set_class_names` once files are read."""
    return None

  def _set_class_names(self, names: Sequence[str]) -> None:
    self.info.features['label'].names = list(names)

  def _homepage(self) -> str | None:
    return None

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            # JPEG or PNG bytes; the format is only metadata, decoding sniffs it.
            'image': tfds.features.Image(shape=(None, None, 3), encoding_format='jpeg'),
            'label': tfds.features.ClassLabel(names=self._class_names()),
            'file_name': tfds.features.Text(),
        }),
        supervised_keys=('image', 'label'),
        homepage=self._homepage(),
    )

  def _examples(self, items: Iterable[tuple[str, int, object]], *, crop_bottom: int = 0):
    """Yields (key, example) from (file_name, label, path_or_bytes), handling bad files."""
    skipped = []
    for file_name, label, src in items:
      try:
        image = encode_image(src, name=str(src) if isinstance(src, str) else file_name,
                             crop_bottom=crop_bottom)
      except CorruptImageError as e:
        if not self.skip_corrupt:
          raise CorruptImageError(
              f'{e}\nRemove or replace the file, or prepare with --skip_corrupt.') from e
        logging.warning('Skipping corrupt image: %s', e)
        skipped.append(file_name)
        continue
      yield file_name, {'image': image, 'label': label, 'file_name': file_name}
    if skipped:
      logging.warning('%s: skipped %d corrupt image(s): %s', self.name, len(skipped),
                      ', '.join(skipped[:20]) + (' ...' if len(skipped) > 20 else ''))


ARCHIVES = ('.tar', '.tar.gz', '.tgz', '.zip')


def extract(archive: str, dest_root: str) -> str:
  """Extracts an archive once into dest_root/<archive name>; returns that folder.

  TFDS's own extractor calls into TensorFlow, so tarfile/zipfile are used instead.
  """
  dest = os.path.join(dest_root, os.path.basename(archive) + '.extracted')
  if os.path.isdir(dest):
    return dest
  tmp = dest + '.incomplete'
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  logging.info('Extracting %s to %s', archive, dest)
  if archive.endswith('.zip'):
    with zipfile.ZipFile(archive) as z:
      z.extractall(tmp)
  else:
    with tarfile.open(archive) as t:
      t.extractall(tmp, filter='data')
  os.rename(tmp, dest)
  return dest


def find_manual(dl_manager, *, names: Sequence[str], what: str, instructions: str,
                url: str | None = None, allow_download: bool = False) -> str:
  """Finds a manual download (a folder, a file, or an archive to extract) or downloads it.

  `names` are tried in order inside the manual directory. Returns the path found,
  with archives replaced by the folder they extract to.
  """
  manual_dir = getattr(dl_manager, '_manual_dir', None)
  manual_dir = os.fspath(manual_dir) if manual_dir else None
  extract_root = os.fspath(getattr(dl_manager, '_extract_dir', None) or tempfile.mkdtemp())
  if manual_dir and os.path.isdir(manual_dir):
    for name in names:
      path = os.path.normpath(os.path.join(manual_dir, name))
      if not os.path.exists(path):
        continue
      if os.path.isfile(path) and name.endswith(ARCHIVES):
        return extract(path, extract_root)
      return path
  if allow_download and url:
    logging.info('Downloading %s from %s', what, url)
    path = os.fspath(dl_manager.download(url))
    is_archive = any(url.split('?')[0].endswith(a) for a in ARCHIVES)
    return extract(path, extract_root) if is_archive else path
  where = manual_dir or '<not given: pass --manual_dir DIR>'
  raise MissingManualFileError(
      f'Missing {what}: none of {", ".join(names)} found in the manual directory {where}.\n'
      f'{instructions.strip()}')


def subdir_with(path: str, child: str) -> str:
  """`path/child` if it exists, else `path` (archives extract with or without a top folder)."""
  inner = os.path.join(path, child)
  return inner if os.path.isdir(inner) else path
