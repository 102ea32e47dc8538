"""`image_folder/<name>`: a user's own images, without TensorFlow (tfds.ImageFolder needs it).

Two layouts, detected from the manual directory:
  <root>/<split>/<class>/<image>   the user's splits, kept as they are;
  <root>/<class>/<image>           one pool, split per class with a seed into
                                   'train' / 'test' (fraction or count per class).
Class names are the sorted class folder names (the union over splits); every class
must have images in every split.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from adafilter_jax.data.builders import common


class ImageFolderConfig(tfds.core.BuilderConfig):

  def __init__(self, *, seed: int = 0, train_fraction: float | None = 0.8,
               train_per_class: int | None = None, **kwargs):
    kwargs.setdefault('version', tfds.core.Version('1.0.0'))
    super().__init__(**kwargs)
    self.seed, self.train_fraction, self.train_per_class = seed, train_fraction, train_per_class


def _subdirs(path: str) -> list[str]:
  return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))
                and not d.startswith('.'))


def _images(path: str) -> list[str]:
  return sorted(f for f in os.listdir(path) if common.is_image_file(f))


def scan(root: str) -> dict[str, dict[str, list[str]]] | dict[str, list[str]]:
  """{split: {class: files}} for the split layout, else {class: files}."""
  top = _subdirs(root)
  if not top:
    raise ValueError(f'{root}: no class or split folders.')
  if all(_subdirs(os.path.join(root, d)) and not _images(os.path.join(root, d)) for d in top):
    return {s: {c: _images(os.path.join(root, s, c)) for c in _subdirs(os.path.join(root, s))}
            for s in top}
  return {c: _images(os.path.join(root, c)) for c in top}


def _check_every_class_in_every_split(classes, pairs, root):
  # A class absent from train is never learnt, one absent from eval never scored: both
  # would only lower a number, so they stop the preparation instead.
  for split, split_pairs in pairs.items():
    present = {c for c, _ in split_pairs}
    for c in classes:
      if c not in present:
        raise ValueError(
            f'{root}: class {c!r} has no images in split {split!r}; every class needs '
            'images in every split (add some, or remove the class folder everywhere).')


class ImageFolder(common.ImageClassificationBuilder):
  """Images in class folders, optionally in split folders."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [ImageFolderConfig(name='default')]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put your images in the manual directory as <root>/<split>/<class>/<image>
  (e.g. train/ and test/) or as <root>/<class>/<image> (split per class with a seed).
  """

  def _split_generators(self, dl_manager):
    root = common.find_manual(dl_manager, names=['.'], what='image folder',
                              instructions=self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    layout = scan(root)
    first = next(iter(layout.values()))
    if isinstance(first, dict):
      classes = sorted({c for per_split in layout.values() for c in per_split})
      pairs = {s: [(c, os.path.join(s, c, f)) for c in sorted(per) for f in per[c]]
               for s, per in layout.items()}
    else:
      classes = sorted(layout)
      cfg = self.builder_config
      train, test = common.seeded_per_class_split(
          layout, num_train=cfg.train_per_class,
          train_fraction=None if cfg.train_per_class else cfg.train_fraction, seed=cfg.seed)
      pairs = {'train': [(c, os.path.join(c, f)) for c, f in train],
               'test': [(c, os.path.join(c, f)) for c, f in test]}
    _check_every_class_in_every_split(classes, pairs, root)
    self._set_class_names(classes)
    label = {c: i for i, c in enumerate(classes)}
    return {s: self._generate_examples(root, p, label) for s, p in pairs.items()}

  def _generate_examples(self, root, pairs, label):
    yield from self._examples((rel, label[c], os.path.join(root, rel)) for c, rel in pairs)
