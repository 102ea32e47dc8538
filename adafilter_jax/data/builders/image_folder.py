"""`image_folder/<name>`: a user's own images, without TensorFlow (tfds.ImageFolder needs it).

Two layouts, detected from the manual directory:
  <root>/<split>/<class>/<image>   the user's splits, kept as they are;
  <root>/<class>/<image>           one pool, split per class with a seed into
                                   'train' / 'test' (fraction or count per class).
Class names are the sorted class folder names (the union over splits); every class
must have images in every split.

Preparing records what it read (`record`: every image's relative path, size and
modification time, and the split settings) beside the prepared files: a later `prepare`
that finds the folder changed prepares it again, and training refuses a prepared copy
of a folder that changed since, naming the changes (`changes_since_prepared`).
"""

from __future__ import annotations

import json
import os

from absl import logging
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


def image_paths(layout) -> list[str]:
  """Every image of a `scan` layout, relative to its root: split/class/file or class/file."""
  if isinstance(next(iter(layout.values())), dict):
    return [os.path.join(s, c, f) for s, per in layout.items() for c, fs in per.items()
            for f in fs]
  return [os.path.join(c, f) for c, fs in layout.items() for f in fs]


RECORD = 'image_folder_files.json'  # in the prepared dataset's directory


def record(root: str, settings: dict) -> dict:
  """What preparing `root` reads: {'root', 'split': the seeded split's settings (None for
  the split layout), 'files': {relative path: [size, mtime_ns]}}."""
  root = os.path.abspath(root)
  try:
    layout = scan(root)
  except (OSError, ValueError):  # gone, or emptied: every image it had is removed
    return {'root': root, 'split': settings, 'files': {}}
  split_layout = isinstance(next(iter(layout.values())), dict)
  files = {}
  for rel in image_paths(layout):
    st = os.stat(os.path.join(root, rel))
    files[rel] = [st.st_size, st.st_mtime_ns]
  return {'root': root, 'split': None if split_layout else settings, 'files': files}


def read_record(dataset_dir: str) -> dict | None:
  path = os.path.join(dataset_dir, RECORD)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_record(dataset_dir: str, rec: dict):
  with open(os.path.join(dataset_dir, RECORD), 'w') as f:
    json.dump(rec, f)


def changes(old: dict, new: dict) -> list[str]:
  """'changed: a/b.png', 'removed: ...', 'added: ...' and the split settings, old -> new."""
  a, b = old['files'], new['files']
  out = [f'changed: {p}' for p in sorted(a.keys() & b.keys()) if list(a[p]) != list(b[p])]
  out += [f'removed: {p}' for p in sorted(a.keys() - b.keys())]
  out += [f'added: {p}' for p in sorted(b.keys() - a.keys())]
  if old.get('split') != new.get('split'):
    out.append(f'split settings: {old.get("split")} -> {new.get("split")}')
  return out


def describe(found: list[str], limit: int = 10) -> str:
  more = f'; and {len(found) - limit} more' if len(found) > limit else ''
  return f'{len(found)} change(s): ' + '; '.join(found[:limit]) + more


def changes_since_prepared(dataset_dir: str) -> tuple[dict | None, list[str]]:
  """(the record of the prepared dataset in `dataset_dir`, what changed in its folder
  since); nothing to compare when it has no record or its folder is gone (the prepared
  files are a copy: a run elsewhere reads them alone)."""
  rec = read_record(dataset_dir)
  if rec is None:
    logging.warning('%s has no record of the files it was prepared from: a change to its '
                    'folder goes unnoticed; prepare it again to record them.', dataset_dir)
    return None, []
  if not os.path.isdir(rec['root']):
    logging.info('%s: its folder %s is not here; reading the prepared copy.', dataset_dir,
                 rec['root'])
    return rec, []
  return rec, changes(rec, record(rec['root'], rec['split']))


def split_flags(rec: dict) -> str:
  """The prepare command's flags that split the folder as `rec`'s was split."""
  split = rec.get('split')
  if not split:
    return ''
  count = (f' --train_per_class {split["train_per_class"]}' if split['train_per_class']
           else f' --train_fraction {split["train_fraction"]}')
  return f' --seed {split["seed"]}{count}'


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
