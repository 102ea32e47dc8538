"""`omniglot_small`: a transfer between Omniglot alphabets from the two small archives.

Omniglot's repository (brendenlake/omniglot, python/) holds four archives, all four
registered by TFDS's own `omniglot` catalog builder (adafilter_jax/data/builders/
catalog.py prepares it, given all four). Where only the two small ones can be had,
`images_background_small1.zip` (5 alphabets, 136 characters) and
`images_background_small2.zip` (5 alphabets, 156 characters; 20 drawers per character,
105x105 binary images), this builder makes the study's transfer task (docs/study.md) from
them, checked against the SHA-256 sums TFDS registers for them:

- `source`: the characters of small2's alphabets that small1 lacks (Japanese katakana,
  Sanskrit, Tagalog: 106 classes), a seeded 16 / 4 drawers per class split;
- `shots<k>` (k = 1, 5, 15): small1's alphabets that small2 lacks (Balinese, Early
  Aramaic, Korean: 86 classes) with k train drawers per character and ONE eval set for
  every k (the 5 drawers left after the first 15 of each class's seeded order; the k train
  drawers are the first k, nested).
Greek and Latin are in both archives and in neither task: source and target share no
alphabet, as AdaFilter's Omniglot shares none with ImageNet.
"""

from __future__ import annotations

import hashlib
import os

import tensorflow_datasets as tfds

from adafilter_jax.data.builders import common

ARCHIVES = {'small1': 'images_background_small1.zip', 'small2': 'images_background_small2.zip'}
SHARED = ('Greek', 'Latin')  # the only alphabets in both archives: in neither task
SEED = 0
SHOTS = (1, 5, 15)
SOURCE_TRAIN = 16  # of 20 drawers


class OmniglotSmallConfig(tfds.core.BuilderConfig):

  def __init__(self, *, archive: str, shots: int | None = None, **kwargs):
    super().__init__(**kwargs)
    self.archive, self.shots = archive, shots


def registered_sha256(filename: str) -> str:
  """The SHA-256 that TFDS's `omniglot` checksums register for `filename`."""
  for info in tfds.builder_cls('omniglot').url_infos.values():
    if info.filename == filename:
      return info.checksum
  raise KeyError(f'{filename}: not among the files TFDS registers for omniglot')


class OmniglotSmall(common.ImageClassificationBuilder):
  """Omniglot (Lake et al. 2015) alphabets of the two small background archives."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [
      OmniglotSmallConfig(name='source', archive='small2',
                          description='small2 alphabets not in small1, 16/4 drawers.'),
      *[OmniglotSmallConfig(name=f'shots{k}', archive='small1', shots=k,
                            description=f'small1 alphabets not in small2, {k} train drawers '
                            f'per character; 5 eval drawers, the same for every k.')
        for k in SHOTS],
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put images_background_small1.zip and images_background_small2.zip from
  https://github.com/brendenlake/omniglot (python/) in the manual directory, unchanged
  (their SHA-256 is checked against TFDS's omniglot checksums).
  """

  def _homepage(self):
    return 'https://github.com/brendenlake/omniglot'

  def _archive(self, dl_manager) -> str:
    name = ARCHIVES[self.builder_config.archive]
    path = common.find_manual(dl_manager, names=[name], what=f'Omniglot {name}',
                              instructions=self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    # find_manual hands archives back extracted: the zip itself is what TFDS registers
    zip_path = os.path.join(os.fspath(dl_manager._manual_dir), name)  # pylint: disable=protected-access
    with open(zip_path, 'rb') as f:
      digest = hashlib.sha256(f.read()).hexdigest()
    if digest != registered_sha256(name):
      raise common.CorruptImageError(f'{zip_path}: SHA-256 {digest} is not the one TFDS '
                                     f'registers ({registered_sha256(name)}): another file?')
    return path

  def _split_generators(self, dl_manager):
    root = self._archive(dl_manager)
    top = os.path.join(root, os.path.splitext(ARCHIVES[self.builder_config.archive])[0])
    by_class = {}
    for alphabet in sorted(os.listdir(top)):
      if alphabet in SHARED:
        continue
      for char in sorted(os.listdir(os.path.join(top, alphabet))):
        folder = os.path.join(alphabet, char)
        by_class[folder] = sorted(f for f in os.listdir(os.path.join(top, folder))
                                  if f.endswith('.png'))
    names = sorted(by_class)
    self._set_class_names([n.replace(os.sep, '/') for n in names])
    cfg = self.builder_config
    if cfg.shots is None:
      train, test = common.seeded_per_class_split(by_class, num_train=SOURCE_TRAIN, seed=SEED)
    else:
      pool, test = common.seeded_per_class_split(by_class, num_train=max(SHOTS), seed=SEED)
      train = [p for i, p in enumerate(pool) if i % max(SHOTS) < cfg.shots]
    label = {n: i for i, n in enumerate(names)}
    return {'train': self._generate_examples(top, train, label),
            'test': self._generate_examples(top, test, label)}

  def _generate_examples(self, top, pairs, label):
    yield from self._examples((f'{folder}/{f}', label[folder], os.path.join(top, folder, f))
                              for folder, f in pairs)

