"""A validation split held out of the train split, for a user's own data.

With ``config.data.val_fraction = f > 0`` each class gives round(f * its count) of its
train images (at least one, never all), drawn with ``config.data.val_seed``: the training
stream reads only the rest, the checkpoint is chosen on the held-out images (the split
named HELDOUT), and the eval split is evaluated once, at the end, with the chosen
checkpoint. The default f = 0 is the paper's protocol (Table 2: the best eval-split
accuracy over the epochs).
"""
from __future__ import annotations

import numpy as np


HELDOUT = 'heldout'  # not 'validation': a real split name of some TFDS datasets (Decathlon)


def check_fraction(fraction: float):
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f'config.data.val_fraction={fraction}: must be in [0, 1).')


def per_class(labels: np.ndarray, count, seed, stream: tuple = ()) -> np.ndarray:
  """Sorted indices: `count(n_c)` of class c's n_c examples, drawn at random.

  One stream per class, seeded by (*stream, seed, c): a class's choice depends neither on
  the other classes nor on anything but the seed (`stream` keeps two uses apart)."""
  labels = np.asarray(labels)
  picked = []
  for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    rng = np.random.default_rng([*stream, seed, int(c)])
    picked.append(rng.permutation(members)[:count(len(members))])
  return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def heldout_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
  """Sorted indices of the held-out examples: per class round(fraction * n_c), >= 1, < n_c."""
  check_fraction(fraction)
  count = lambda n: min(max(int(round(fraction * n)), 1), n - 1) if fraction else 0
  return per_class(labels, count, seed)


def labels_of(source) -> np.ndarray:
  """Every example's label, in order (the images stay undecoded: `data_source`)."""
  return np.asarray([source[i]['label'] for i in range(len(source))])


class Subset:
  """A view of a data source through a list of its indices (what grain reads)."""

  def __init__(self, source, indices: np.ndarray):
    self.source, self.indices = source, np.asarray(indices)

  def __len__(self):
    return len(self.indices)

  def __getitem__(self, i):
    return self.source[int(self.indices[i])]


# (dataset directory, split, fraction, seed) -> held-out indices: labels are read once.
_HELDOUT: dict = {}


def part(source, data_cfg, key, heldout: bool) -> Subset:
  """The held-out images of the train split's `source` (identified by `key`), or the
  ones left to train on."""
  fraction, seed = float(data_cfg.val_fraction), int(data_cfg.val_seed)
  if (key, fraction, seed) not in _HELDOUT:
    _HELDOUT[key, fraction, seed] = heldout_indices(labels_of(source), fraction, seed)
  held = _HELDOUT[key, fraction, seed]
  if heldout:
    return Subset(source, held)
  return Subset(source, np.setdiff1d(np.arange(len(source)), held))
