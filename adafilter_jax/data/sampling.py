"""The sampling-rate protocol of TLlib's task-adaptation benchmarks (after BSS, Chen et
al. 2019): train on 15, 30, 50 or 100 % of each class's training images.

``config.data.sample_rate = r`` in (0, 1] keeps max(1, round-half-up(r * n_c)) of class
c's n_c training images, drawn with ``config.data.sample_seed``: the same images for the
same seed, whatever the run's own seed, devices or hosts. Everything that reads the train
split reads only them: the training stream, ``val_fraction``'s held-out part (drawn from
the sample), and the passes over the training images (Co-Tuning's relationship,
SpotTune's global-k). TLlib ships lists drawn once (``image_list/train_15.txt``); here the
seed draws them. The eval split is never sampled.
"""
from __future__ import annotations

import numpy as np

from adafilter_jax.data import validation

_STREAM = (0x5A,)  # apart from val_fraction's draws, which use the same kind of seed


def check_rate(rate: float):
  if not 0.0 < rate <= 1.0:
    raise ValueError(f'config.data.sample_rate={rate}: must be in (0, 1] '
                     '(0.15 keeps 15 % of each class).')


def count(rate: float, n: int) -> int:
  """Images kept of a class of `n`: round-half-up(rate * n), at least one."""
  return max(1, int(np.floor(rate * n + 0.5)))


def sampled_indices(labels: np.ndarray, rate: float, seed: int) -> np.ndarray:
  """Sorted indices of the kept training examples."""
  check_rate(rate)
  return validation.per_class(labels, lambda n: count(rate, n), seed, _STREAM)


# (dataset directory, split, rate, seed) -> kept indices: labels are read once.
_SAMPLED: dict = {}


def settings(data_cfg) -> tuple[float, int]:
  """(rate, seed); configs saved before the setting existed read as the whole split."""
  return float(data_cfg.get('sample_rate', 1.0)), int(data_cfg.get('sample_seed', 0))


def sample(source, data_cfg, key):
  """The train split's `source` (identified by `key`) at ``data_cfg.sample_rate``."""
  rate, seed = settings(data_cfg)
  check_rate(rate)
  if rate == 1.0:
    return source
  if (key, rate, seed) not in _SAMPLED:
    _SAMPLED[key, rate, seed] = sampled_indices(validation.labels_of(source), rate, seed)
  return validation.Subset(source, _SAMPLED[key, rate, seed])
