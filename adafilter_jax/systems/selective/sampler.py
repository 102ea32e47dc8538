"""Which images make up joint batch `step` of round `round_`: B_t target images and, for
each, one source image, deterministic in (seed, round, step) alone, so a resumed round
draws exactly what an uninterrupted one would.

Targets: each epoch a seeded permutation of the target set, read B_t at a time across
epoch ends. With `repeats` (the official code's oversampling of hard images, a switch:
mining.sampling_levels) target i stands `repeats[i]` times in the list an epoch permutes,
so it is drawn exactly that often per epoch; without, once (the paper). Sources: in
'selective' mode target i's partner is its r-th nearest source image, r uniform over its
current top K_i; with a flat `pool` (the ablations: a random source subset, or the whole
source) it is uniform over the pool.
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
               pool: Optional[np.ndarray] = None, repeats: Optional[np.ndarray] = None):
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
    self._order = np.arange(num_target) if repeats is None else _repeated(repeats, num_target)

  def num_source_images(self) -> int:
    """How many distinct source images this round can draw."""
    if self.neighbours is not None:
      return len(np.unique(np.concatenate([self.neighbours[i, :k] for i, k in enumerate(self.k)])))
    return 0 if self.pool is None else len(np.unique(self.pool))

  def _targets(self, step: int) -> np.ndarray:
    size = len(self._order)
    pos = step * self.batch_size + np.arange(self.batch_size)
    epochs, offsets = np.divmod(pos, size)
    out = np.empty(self.batch_size, np.int64)
    for e in np.unique(epochs):
      perm = np.random.default_rng([self.seed, self.round, int(e)]).permutation(size)
      out[epochs == e] = self._order[perm[offsets[epochs == e]]]
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


def _repeated(repeats, num_target: int) -> np.ndarray:
  """The target indices of one epoch, i written repeats[i] times."""
  r = np.asarray(repeats)
  if (r.shape != (num_target,) or not np.issubdtype(r.dtype, np.integer)
      or (num_target and r.min() < 1)):
    raise ValueError(f'repeats must be {num_target} integers >= 1 (draws per epoch of each '
                     f'target image); got dtype {r.dtype}, shape {r.shape}'
                     + (f', range [{r.min()}, {r.max()}].' if r.size else '.'))
  return np.repeat(np.arange(num_target), r)
