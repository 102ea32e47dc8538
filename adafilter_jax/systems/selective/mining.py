"""Iterative hard-sample mining (Ge & Yu Eqs. 2-3).

After round m, on every target TRAINING image: softmax p, entropy H_i = -sum_c p ln p;
  wrong prediction              -> K_i += sigma0 (= 4 K0)
  right and H_i >= delta (0.1)  -> K_i += sigma1 (= 2 K0)
  right and H_i <  delta        -> K_i unchanged.
The official code also caps K_i at 10 K0 (`cap`, off by default: the paper has none).

The official code (RefinedBoostedJointTrainingDataLayer) keeps, per target image, an
integer "sampling level" L_i with K_i = K0 * L_i, and puts image i L_i times in the list
its epochs shuffle: hard images get more neighbours AND are drawn more often.
`sampling_levels` gives those L_i from K_i, for the sampler's `repeats` (a switch,
selective.oversample_hard; the paper draws every target image once per epoch).
"""
from typing import Optional

import numpy as np

EASY, UNSURE, WRONG = 0, 1, 2


def entropy(probs: np.ndarray) -> np.ndarray:
  p = np.asarray(probs, np.float64)
  return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def hardness(pred, label, ent, delta: float) -> np.ndarray:
  """EASY / UNSURE / WRONG per image (the three cases of Eq. 3)."""
  wrong = np.asarray(pred) != np.asarray(label)
  return np.where(wrong, WRONG, np.where(np.asarray(ent) >= delta, UNSURE, EASY))


def update_k(k, pred, label, ent, k0: int, delta: float = 0.1, sigma0: float = 4.0,
             sigma1: float = 2.0, cap: Optional[int] = None) -> np.ndarray:
  """K^{m+1} from K^m (Eq. 3); sigma0/sigma1 are multiples of K0."""
  hard = hardness(pred, label, ent, delta)
  step = np.select([hard == WRONG, hard == UNSURE],
                   [int(round(sigma0 * k0)), int(round(sigma1 * k0))], 0)
  new = np.asarray(k, np.int64) + step
  return new if cap is None else np.minimum(new, cap)


def sampling_levels(k, k0: int) -> np.ndarray:
  """L_i = K_i // K0, at least 1: how often target i is drawn per epoch when hard images
  are oversampled (K_i a multiple of K0 unless a cap cut it, then rounded down)."""
  if k0 < 1:
    raise ValueError(f'K0 must be >= 1; got {k0}.')
  return np.maximum(1, np.asarray(k, np.int64) // int(k0))
