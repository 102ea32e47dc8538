"""Which images make up joint batch `step` of round `round_`: B_t target images and, for
each, one source image, deterministic in (seed, round, step) alone, so a resumed round
draws exactly what an uninterrupted one would.

Targets: each epoch a seeded permutation of the target set, read B_t at a time across
epoch ends. Sources: in 'selective' mode target i's partner is its r-th nearest source
image, r uniform over its current top K_i; with a flat `pool` (the ablations: a random
source subset, or the whole source) it is uniform over the pool.
"""
import dataclasses
from typing import Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class Batch:
  target: np.ndarray          # [B_t] target indices
  source: np.ndarray          # [B_t] source indices (empty without a source)
  target_seeds: list          # augmentation seed of each image
  source_seeds: list


class JointSampler:

  def __init__(self, num_target: int, batch_size: int, seed: int, round_: int,
               neighbours: Optional[np.ndarray] = None, k: Optional[np.ndarray] = None,
               pool: Optional[np.ndarray] = None):
    if (neighbours is None) != (k is None):
      raise ValueError('selective sampling needs both the neighbour table and K_i.')
    if neighbours is not None:
      k = np.asarray(k)
      if k.shape != (num_target,) or k.min() < 1 or k.max() > neighbours.shape[1]:
        raise ValueError(f'K_i must be {num_target} values in [1, {neighbours.shape[1]}] '
                         f'(the index keeps {neighbours.shape[1]} neighbours); got '
                         f'shape {k.shape}, range [{k.min()}, {k.max()}].')
    self.n, self.batch_size, self.seed, self.round = num_target, batch_size, seed, round_
    self.neighbours, self.k, self.pool = neighbours, k, pool

  def num_source_images(self) -> int:
    """How many distinct source images this round can draw."""
    if self.neighbours is not None:
      return len(np.unique(np.concatenate([self.neighbours[i, :k] for i, k in enumerate(self.k)])))
    return 0 if self.pool is None else len(np.unique(self.pool))

  def _targets(self, step: int) -> np.ndarray:
    pos = step * self.batch_size + np.arange(self.batch_size)
    epochs, offsets = np.divmod(pos, self.n)
    out = np.empty(self.batch_size, np.int64)
    for e in np.unique(epochs):
      perm = np.random.default_rng([self.seed, self.round, int(e)]).permutation(self.n)
      out[epochs == e] = perm[offsets[epochs == e]]
    return out

  def batch(self, step: int) -> Batch:
    t = self._targets(step)
    rng = np.random.default_rng([self.seed, self.round, step, 1])
    if self.neighbours is not None:
      ranks = np.floor(rng.random(len(t)) * self.k[t]).astype(np.int64)
      s = self.neighbours[t, ranks]
    elif self.pool is not None:
      s = self.pool[rng.integers(0, len(self.pool), len(t))]
    else:
      s = np.zeros(0, np.int64)
    seeds = lambda kind, n: [(self.seed, self.round, step, kind, j) for j in range(n)]
    return Batch(t, np.asarray(s, np.int64), seeds(0, len(t)), seeds(1, len(s)))
