"""`digits`: scikit-learn's bundled 8x8 handwritten digits as a tiny offline transfer task.

The demo pretrains on `digits/source` (0-4) and transfers to `digits/target` (5-9,
relabelled 0-4, only k images per class to train on), so source and target share no
class. `digits/shots<k>` (k = 5, 10, 25, 100) are the target task with k train images
per class and ONE eval set for every k (the images left after the first 100 of each
class's seeded order; the k train images are the first k of them, nested): the study
(adafilter_jax/apps/study.py) compares numbers of shots on the same eval images.
Everything ships with scikit-learn, so this builder prepares itself offline.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from adafilter_jax.data.builders import common

SIZE = 32  # 8x8 upsampled 4x with nearest neighbour: exact, and fixed so runs are comparable.
SEED = 0
TARGET_SHOTS = 10
SOURCE_TRAIN_FRACTION = 0.8
SHOTS = (5, 10, 25, 100)  # the shots<k> configs; their eval set: all but the first 100


class DigitsConfig(tfds.core.BuilderConfig):

  def __init__(self, *, digits: tuple[int, ...], shots: int | None = None, **kwargs):
    super().__init__(**kwargs)
    self.digits, self.shots = digits, shots


class Digits(common.ImageClassificationBuilder):
  """Handwritten digits (sklearn.datasets.load_digits), source 0-4 / target 5-9."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [
      DigitsConfig(name='source', digits=(0, 1, 2, 3, 4),
                   description=f'Digits 0-4, seeded {SOURCE_TRAIN_FRACTION:.0%} / rest per class.'),
      DigitsConfig(name='target', digits=(5, 6, 7, 8, 9),
                   description=f'Digits 5-9 as labels 0-4, {TARGET_SHOTS} train images per class.'),
      *[DigitsConfig(name=f'shots{k}', digits=(5, 6, 7, 8, 9), shots=k,
                     description=f'Digits 5-9 as labels 0-4, {k} train images per class; '
                     f'the eval set of every shots config: all but the first {max(SHOTS)}.')
        for k in SHOTS],
  ]

  def _class_names(self):
    return [str(d) for d in self.builder_config.digits]

  def _split_generators(self, dl_manager):
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
    data = load_digits()
    by_class = {}
    for label, d in enumerate(self.builder_config.digits):
      # Zero-padded ids keep the sorted order equal to the dataset order.
      by_class[str(label)] = [f'{i:04d}' for i in np.flatnonzero(data.target == d)]
    if self.builder_config.name == 'source':
      train, test = common.seeded_per_class_split(
          by_class, num_train=None, train_fraction=SOURCE_TRAIN_FRACTION, seed=SEED)
    elif self.builder_config.shots is not None:
      pool, test = common.seeded_per_class_split(by_class, num_train=max(SHOTS), seed=SEED)
      # pool is class by class, each in its seeded order: its first k are the k shots
      train = [pair for i, pair in enumerate(pool) if i % max(SHOTS) < self.builder_config.shots]
    else:
      train, test = common.seeded_per_class_split(by_class, num_train=TARGET_SHOTS, seed=SEED)
    return {'train': self._generate_examples(data.images, train),
            'test': self._generate_examples(data.images, test)}

  def _generate_examples(self, images, pairs):
    def items():
      for label, idx in pairs:
        grey = np.round(images[int(idx)] * (255.0 / 16.0)).astype(np.uint8)
        big = Image.fromarray(grey).resize((SIZE, SIZE), Image.NEAREST).convert('RGB')
        yield f'digit_{idx}.png', int(label), common.array_to_png(np.asarray(big))
    yield from self._examples(items())
