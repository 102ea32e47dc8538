"""The retrieval index: each target training image's k nearest source images (Eq. 1),
built once and cached on disk, keyed by the target, the source, the bank and the
settings, so every round and every seed reuses it and any change rebuilds it.

  index = build_or_load(bank, target_batches, source_batches, key, cache_dir, ...)

`target_batches` / `source_batches` are callables returning a fresh iterator of uint8
image batches (in dataset order); the target is read three times (min/max, fine
histogram, descriptors), the source once, streamed: the source histograms never need
to be held at once.
"""
import dataclasses
import hashlib
import json
import os
import time
from typing import Callable, Iterable

from absl import logging
import numpy as np

from adafilter_jax.systems.selective import cnn_bank, descriptor, distance

VERSION = 1  # bump when what is stored changes meaning


@dataclasses.dataclass(frozen=True)
class Index:
  neighbours: np.ndarray   # [N_target, k] source indices, nearest first
  distances: np.ndarray    # [N_target, k]
  key: dict
  path: str


def cache_key(bank, target: dict, source: dict, num_bins: int, k: int) -> dict:
  return {'version': VERSION, 'target': target, 'source': source, 'bank': bank.settings(),
          'num_bins': num_bins, 'k': k}


def _digest(key: dict) -> str:
  return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


class _Responses:
  """A re-iterable view: image batches -> the bank's responses."""

  def __init__(self, bank, batches: Callable[[], Iterable[np.ndarray]]):
    self.bank, self.batches = bank, batches

  def __iter__(self):
    for images in self.batches():
      yield self.bank.responses(images)


def compute(bank, target_batches, source_batches, num_bins: int, k: int):
  """(neighbours, distances, bins) from scratch."""
  t0 = time.time()
  bins = descriptor.fit(_Responses(bank, target_batches), num_bins)
  target = np.concatenate([np.asarray(descriptor.histograms(r, bins))
                           for r in _Responses(bank, target_batches)])
  weights = cnn_bank.channel_weights(bank.layer_sizes)
  top = distance.TopK(target, weights, k)
  for r in _Responses(bank, source_batches):
    top.add(descriptor.histograms(r, bins))
  neighbours, dists = top.result()
  logging.info('index: %d target x %d source images, %s bank, %.1f s', target.shape[0],
               top.seen, bank.name, time.time() - t0)
  return neighbours, dists, bins


def build_or_load(bank, target_batches, source_batches, key: dict, cache_dir: str) -> Index:
  """The cached index for `key` (see cache_key), computed and saved when absent."""
  os.makedirs(cache_dir, exist_ok=True)
  path = os.path.join(cache_dir, f'index_{_digest(key)}.npz')
  if os.path.exists(path):
    with np.load(path) as z:
      stored = json.loads(str(z['key']))
      if stored == key:
        logging.info('index: reusing %s', path)
        return Index(z['neighbours'], z['distances'], stored, path)
  neighbours, dists, bins = compute(bank, target_batches, source_batches, key['num_bins'],
                                    key['k'])
  tmp = path + '.tmp.npz'
  np.savez(tmp, neighbours=neighbours, distances=dists, lo=bins.lo, hi=bins.hi,
           inner=bins.inner, key=json.dumps(key, sort_keys=True))
  os.replace(tmp, path)  # a crash mid-write never leaves a truncated index behind
  return Index(neighbours, dists, key, path)
