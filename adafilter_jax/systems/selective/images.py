"""Random access to a prepared TFDS split's images (ArrayRecord, no TensorFlow), for the
descriptor pass (eval transform, in order) and the joint batches (train transform, any
index): the source set is read by index because its neighbours are scattered over it."""
from typing import Iterator, Sequence, Tuple

import grain
import numpy as np

from adafilter_jax.data import pipeline, transforms


class Split:
  """One split of a dataset: `len`, labels, and images by index."""

  def __init__(self, data_cfg, split: str):
    self.data_cfg, self.split = data_cfg, split
    self.source = pipeline.data_source(data_cfg, split)
    self._labels = None

  def __len__(self):
    return len(self.source)

  def identity(self) -> dict:
    """What the on-disk index is keyed by."""
    return {'name': self.data_cfg.name, 'split': self.split, 'num': len(self),
            'image_size': self.data_cfg.image_size, 'resize_size': self.data_cfg.resize_size}

  @property
  def labels(self) -> np.ndarray:
    if self._labels is None:
      self._labels = np.array([self.source[i]['label'] for i in range(len(self))], np.int32)
    return self._labels

  def eval_images(self, indices: Sequence[int]) -> np.ndarray:
    c = self.data_cfg
    return np.stack([transforms.eval_image(self.source[int(i)]['image'], c.image_size,
                                           c.resize_size) for i in indices])

  def train_images(self, indices: Sequence[int], seeds: Sequence[Tuple[int, ...]]) -> np.ndarray:
    """Augmented images; image j draws its crop/flip from np.random.default_rng(seeds[j])."""
    c = self.data_cfg
    return np.stack([
        transforms.train_image(self.source[int(i)]['image'], c.image_size,
                               np.random.default_rng(s), scale=tuple(c.crop_scale), flip=c.flip)
        for i, s in zip(indices, seeds)])

  def eval_batches(self, batch_size: int) -> Iterator[np.ndarray]:
    """Every image in order (eval transform), uint8 batches, decoded by grain with the
    pipeline's workers (`config.data.num_workers`, `prefetch_batches`)."""
    ds = (grain.MapDataset.range(len(self)).batch(batch_size, drop_remainder=False)
          .map(self.eval_images))
    return iter(pipeline.to_iter(ds, self.data_cfg))
