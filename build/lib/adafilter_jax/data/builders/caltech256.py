"""`caltech256/{30,60}`: Caltech-256 with x seeded train images and 20 eval images per class.

Caltech-256 ships without a split. As in the paper (Table 1: 7680 / 15360 train, 5120
eval), each of the 256 object classes gives x training and 20 evaluation images,
drawn with `common.seeded_per_class_split` (seed 0); the 257.clutter class is left out.
"""

from __future__ import annotations

import os

from absl import logging
import tensorflow_datasets as tfds

from adafilter_jax.data.builders import common

URL = 'https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar'
FOLDER = '256_ObjectCategories'
CLUTTER = '257.clutter'
NUM_EVAL = 20


class Caltech256Config(tfds.core.BuilderConfig):

  def __init__(self, *, num_train: int, num_eval: int = NUM_EVAL, seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.num_train, self.num_eval, self.seed = num_train, num_eval, seed


def _config(x: int) -> Caltech256Config:
  return Caltech256Config(
      name=str(x), num_train=x,
      description=f'{x} train and {NUM_EVAL} eval images per class, seed 0, no clutter.')


def class_name(folder: str) -> str:
  """'001.ak47' -> 'ak47'."""
  return folder.split('.', 1)[1] if '.' in folder else folder


class Caltech256(common.ImageClassificationBuilder):
  """Caltech-256 object categories (Griffin et al. 2007)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [_config(30), _config(60)]
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Download 256_ObjectCategories.tar (1.2 GB) from
  https://data.caltech.edu/records/nyy15-4j048 ({URL})
  and put it, or the folder it extracts to ({FOLDER}/001.ak47/...), in the manual
  directory (--manual_dir).
  """

  def _homepage(self):
    return 'https://data.caltech.edu/records/nyy15-4j048'

  def _categories(self, root: str) -> list[str]:
    return sorted(d for d in os.listdir(root)
                  if os.path.isdir(os.path.join(root, d)) and d != CLUTTER)

  def _split_generators(self, dl_manager):
    path = common.find_manual(
        dl_manager, names=[FOLDER, FOLDER + '.tar'], what='Caltech-256 images',
        instructions=self.MANUAL_DOWNLOAD_INSTRUCTIONS, url=URL,
        allow_download=self.allow_download)
    root = common.subdir_with(path, FOLDER)
    folders = self._categories(root)
    if len(folders) != 256:
      logging.warning('%s: %d class folders, the official archive has 256 (+ clutter).',
                      root, len(folders))
    self._set_class_names([class_name(f) for f in folders])
    by_class = {f: [x for x in os.listdir(os.path.join(root, f)) if common.is_image_file(x)]
                for f in folders}
    cfg = self.builder_config
    train, test = common.seeded_per_class_split(
        by_class, num_train=cfg.num_train, num_eval=cfg.num_eval, seed=cfg.seed)
    label = {f: i for i, f in enumerate(folders)}
    return {'train': self._generate_examples(root, train, label),
            'test': self._generate_examples(root, test, label)}

  def _generate_examples(self, root, pairs, label):
    yield from self._examples(
        (f'{folder}/{f}', label[folder], os.path.join(root, folder, f)) for folder, f in pairs)

