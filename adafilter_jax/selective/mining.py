"""Iterative hard-sample mining (Ge & Yu Eqs. 2-3).

After round m, on every target TRAINING image: softmax p, entropy H_i = -sum_c p ln p;
  wrong prediction              -> K_i += sigma0 (= 4 K0)
  right and H_i >= delta (0.1)  -> K_i += sigma1 (= 2 K0)
  right and H_i <  delta        -> K_i unchanged.
The official code also caps K_i at 10 K0 (`cap`, off by default: the paper has none).
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
