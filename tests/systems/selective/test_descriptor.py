"""Equal-mass bins vs np.quantile, assignment vs np.searchsorted, histograms sum to 1."""
import numpy as np

from adafilter_jax.systems.selective import descriptor


def _responses(seed):
  rng = np.random.default_rng(seed)
  # Two layers of different resolutions and very different distributions per channel.
  l1 = np.stack([rng.normal(0, 1, (6, 9, 9)), rng.exponential(2.0, (6, 9, 9)),
                 rng.uniform(-3, 5, (6, 9, 9))], -1).astype(np.float32)
  l2 = np.stack([rng.standard_t(2, (6, 4, 4)), rng.normal(10, .1, (6, 4, 4))], -1)
  return [(l1[:3], l2[:3].astype(np.float32)), (l1[3:], l2[3:].astype(np.float32))]


def test_edges_within_one_fine_interval_of_np_quantile():
  batches = _responses(0)
  bins = descriptor.fit(batches, num_bins=10)
  per_channel = [np.concatenate([b[0][..., c].ravel() for b in batches]) for c in range(3)]
  per_channel += [np.concatenate([b[1][..., c].ravel() for b in batches]) for c in range(2)]
  for c, values in enumerate(per_channel):
    assert bins.lo[c] == values.min() and bins.hi[c] == values.max()
    fine = (values.max() - values.min()) / descriptor.NUM_FINE
    # The b/B quantile (the sample where the cumulative count first reaches b/B) lies in
    # the fine interval whose upper end is edge b.
    q = np.quantile(values.astype(np.float64), np.arange(1, 10) / 10, method='inverted_cdf')
    assert np.all(q <= bins.inner[c] + 1e-6) and np.all(q >= bins.inner[c] - fine * 1.001), c
    # And the bins really hold about equal mass.
    counts = np.bincount(np.searchsorted(bins.inner[c], values, side='right'), minlength=10)
    assert counts.min() >= 0.5 * len(values) / 10


def test_assignment_is_searchsorted_with_clipping():
  rng = np.random.default_rng(1)
  inner = np.sort(rng.normal(size=(4, 7)), axis=1).astype(np.float32)
  x = rng.normal(scale=3, size=(500, 4)).astype(np.float32)  # many beyond both ends
  x[:4] = inner[:, 2]  # exactly on an edge: goes to the bin above it
  got = np.asarray(descriptor.assign(x, inner))
  for c in range(4):
    upper = np.append(inner[c], np.inf)  # bin B-1 open above
    ref = np.clip(np.searchsorted(upper, x[:, c], side='right'), 0, 7)
    np.testing.assert_array_equal(got[:, c], ref)


def test_histograms_sum_to_one_and_count_pixels():
  batches = _responses(2)
  bins = descriptor.fit(batches, num_bins=6)
  hist = np.asarray(descriptor.histograms(batches[0], bins))
  assert hist.shape == (3, 5, 6)
  np.testing.assert_allclose(hist.sum(-1), 1.0, rtol=1e-6)
  # Image 0, channel 1 (layer 1) by numpy.
  x = batches[0][0][0, ..., 1].ravel()
  ref = np.bincount(np.searchsorted(bins.inner[1], x, side='right'), minlength=6) / x.size
  np.testing.assert_allclose(hist[0, 1], ref, rtol=1e-6)
  # Image 2, channel 4 (layer 2, channel 1).
  x = batches[0][1][2, ..., 1].ravel()
  ref = np.bincount(np.searchsorted(bins.inner[4], x, side='right'), minlength=6) / x.size
  np.testing.assert_allclose(hist[2, 4], ref, rtol=1e-6)
