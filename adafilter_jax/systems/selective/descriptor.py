"""The image descriptor: per filter, a histogram of its responses with ADAPTIVE
equal-mass bins fitted on the target training set (Ge & Yu Sec. 3.2).

Per channel: the global min/max over every target pixel, a fine histogram of 2000
uniform intervals of all target responses, then B bins holding about equal mass each;
a pixel goes to the first bin whose upper edge exceeds it, the ends clip. A bank's
responses come as a tuple of layers ([N, h, w, C_l] each, resolutions may differ);
channels are numbered across layers in that order.
"""
import dataclasses
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

NUM_FINE = 2000


@dataclasses.dataclass(frozen=True)
class Bins:
  """Per channel: `inner` [C, B-1] upper edges of bins 0..B-2 (bin B-1 is open above)."""
  lo: np.ndarray
  hi: np.ndarray
  inner: np.ndarray

  @property
  def num_bins(self) -> int:
    return self.inner.shape[1] + 1


def _flat(r):
  return r.reshape(-1, r.shape[-1])  # [pixels, C]


@jax.jit
def _minmax(layer):
  x = _flat(layer)
  return jnp.min(x, axis=0), jnp.max(x, axis=0)


@jax.jit
def _fine_counts(layer, lo, hi):
  x = _flat(layer)
  width = jnp.maximum(hi - lo, 1e-12) / NUM_FINE
  idx = jnp.clip(jnp.floor((x - lo) / width), 0, NUM_FINE - 1).astype(jnp.int32)
  ids = idx + NUM_FINE * jnp.arange(x.shape[1], dtype=jnp.int32)
  counts = jnp.zeros(x.shape[1] * NUM_FINE, jnp.float32).at[ids.reshape(-1)].add(1.0)
  return counts.reshape(x.shape[1], NUM_FINE)


def edges_from_counts(counts, lo, hi, num_bins: int) -> np.ndarray:
  """[C, NUM_FINE] fine counts -> [C, B-1] edges: edge b is the upper end of the fine
  interval where the cumulative mass first reaches b/B (so each lies within one fine
  interval of the true b/B quantile)."""
  counts = np.asarray(counts, np.float64)
  cum = np.cumsum(counts, axis=1) / np.maximum(counts.sum(axis=1, keepdims=True), 1)
  levels = np.arange(1, num_bins) / num_bins
  width = (np.asarray(hi) - np.asarray(lo)) / counts.shape[1]
  pos = np.stack([np.searchsorted(c, levels - 1e-12, side='left') for c in cum])
  return (np.asarray(lo)[:, None] + (pos + 1) * width[:, None]).astype(np.float32)


def fit(batches: Iterable[Sequence[np.ndarray]] , num_bins: int) -> Bins:
  """Equal-mass bins from the target responses; `batches` is re-iterable (two passes:
  min/max, then the fine histogram)."""
  lo = hi = None
  for layers in batches:
    mm = [_minmax(jnp.asarray(r)) for r in layers]
    blo = np.concatenate([np.asarray(m[0]) for m in mm])
    bhi = np.concatenate([np.asarray(m[1]) for m in mm])
    lo = blo if lo is None else np.minimum(lo, blo)
    hi = bhi if hi is None else np.maximum(hi, bhi)
  if lo is None:
    raise ValueError('no target images to fit the histogram bins on.')
  counts = 0
  for layers in batches:
    counts = counts + np.concatenate([
        np.asarray(_fine_counts(jnp.asarray(r), lo[s], hi[s]))
        for r, s in zip(layers, _slices(layers))])
  return Bins(lo=lo, hi=hi, inner=edges_from_counts(counts, lo, hi, num_bins))


def _slices(layers):
  out, start = [], 0
  for r in layers:
    out.append(slice(start, start + r.shape[-1]))
    start += r.shape[-1]
  return out


def assign(x, inner):
  """Bin of each response: x [P, C], inner [C, B-1] -> [P, C] int32 (searchsorted,
  side='right': the first bin whose upper edge exceeds x; the ends clip)."""
  return jax.vmap(lambda e, v: jnp.searchsorted(e, v, side='right'),
                  in_axes=(0, 1), out_axes=1)(inner, x).astype(jnp.int32)


@jax.jit
def _layer_hist(layer, inner):
  num_bins = inner.shape[1] + 1

  def one(image):
    x = _flat(image)
    ids = assign(x, inner) + num_bins * jnp.arange(x.shape[1], dtype=jnp.int32)
    counts = jnp.zeros(x.shape[1] * num_bins, jnp.float32).at[ids.reshape(-1)].add(1.0)
    return counts.reshape(x.shape[1], num_bins) / x.shape[0]

  return jax.vmap(one)(layer)


def histograms(layers: Sequence[jax.Array], bins: Bins) -> jax.Array:
  """One image batch's responses -> [N, C, B] histograms, each summing to 1."""
  inner = jnp.asarray(bins.inner)
  return jnp.concatenate([_layer_hist(jnp.asarray(r), inner[s])
                          for r, s in zip(layers, _slices(layers))], axis=1)
