"""Eq. 1 as a matrix product vs hand values, scipy, and a double loop; chunked top-k vs numpy."""
import numpy as np
import pytest
from scipy.special import rel_entr

from adafilter_jax.systems.selective import distance


def _random_hist(rng, n, h, b, sparse=False):
  x = rng.random((n, h, b)) ** 3
  if sparse:
    x[x < 0.05] = 0.0  # empty bins: the epsilon inside the logs matters
  return (x / x.sum(-1, keepdims=True)).astype(np.float32)


def test_hand_pair():
  p = np.array([[[.5, .5]]], np.float32)
  q = np.array([[[.9, .1]]], np.float32)
  one = np.ones(1, np.float32)
  # KL(p||q) + KL(q||p) = .5 ln(.5/.9) + .5 ln(.5/.1) + .9 ln(.9/.5) + .1 ln(.1/.5)
  assert float(distance.pairwise(p, q, one)[0, 0]) == pytest.approx(0.87889, abs=1e-5)
  assert float(distance.pairwise_naive(p, q, one)[0, 0]) == pytest.approx(0.87889, abs=1e-5)


def test_against_scipy_rel_entr_symmetric_and_zero_on_self():
  rng = np.random.default_rng(0)
  a, p = _random_hist(rng, 5, 3, 8), _random_hist(rng, 7, 3, 8)
  w = np.array([0.5, 0.25, 0.25], np.float32)
  ref = np.zeros((5, 7))
  for i in range(5):
    for j in range(7):
      ai, pj = a[i].astype(np.float64), p[j].astype(np.float64)
      kl = rel_entr(ai, pj).sum(-1) + rel_entr(pj, ai).sum(-1)
      ref[i, j] = (w * kl).sum()
  np.testing.assert_allclose(distance.pairwise(a, p, w), ref, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(distance.pairwise(a, p, w), np.asarray(distance.pairwise(p, a, w)).T,
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.diag(np.asarray(distance.pairwise(a, a, w))), 0.0, atol=1e-5)


def test_matrix_form_equals_double_loop_with_empty_bins():
  rng = np.random.default_rng(1)
  a, p = _random_hist(rng, 6, 4, 10, sparse=True), _random_hist(rng, 9, 4, 10, sparse=True)
  w = rng.random(4).astype(np.float32)
  eps = distance.EPS
  loop = np.zeros((6, 9))
  for i in range(6):
    for j in range(9):
      for h in range(4):
        ai, pj = a[i, h].astype(np.float64), p[j, h].astype(np.float64)
        loop[i, j] += w[h] * np.sum((ai - pj) * (np.log(ai + eps) - np.log(pj + eps)))
  np.testing.assert_allclose(distance.pairwise(a, p, w), loop, rtol=1e-5, atol=1e-5 * loop.max())


def test_chunked_topk_equals_numpy_brute_force():
  rng = np.random.default_rng(2)
  a, p = _random_hist(rng, 11, 3, 6), _random_hist(rng, 103, 3, 6)
  w = np.full(3, 1 / 3, np.float32)
  idx, dist = distance.topk(a, p, w, k=7, chunk=16)  # 7 chunks, the last one short
  full = np.asarray(distance.pairwise_naive(a, p, w))
  ref = np.argsort(full, axis=1, kind='stable')[:, :7]
  np.testing.assert_array_equal(idx, ref)
  np.testing.assert_allclose(dist, np.take_along_axis(full, ref, 1), rtol=1e-4, atol=1e-6)


def test_exact_copies_among_distractors_come_first_at_distance_zero():
  rng = np.random.default_rng(3)
  targets = _random_hist(rng, 8, 5, 12)
  distractors = _random_hist(rng, 200, 5, 12)
  where = rng.choice(208, 8, replace=False)
  source = np.empty((208, 5, 12), np.float32)
  rest = np.setdiff1d(np.arange(208), where)
  source[where], source[rest] = targets, distractors
  idx, dist = distance.topk(targets, source, np.full(5, 0.2, np.float32), k=3, chunk=50)
  np.testing.assert_array_equal(idx[:, 0], where)
  np.testing.assert_allclose(dist[:, 0], 0.0, atol=1e-5)
  assert (dist[:, 1] > 1e-3).all()


def test_topk_larger_than_source_is_an_error():
  with pytest.raises(ValueError, match='top-5'):
    distance.topk(np.ones((2, 1, 2), np.float32) / 2, np.ones((3, 1, 2), np.float32) / 2,
                  np.ones(1, np.float32), k=5)


def test_small_batches_buffered_into_chunks_give_the_same_top_k():
  rng = np.random.default_rng(4)
  a, p = _random_hist(rng, 5, 2, 4), _random_hist(rng, 90, 2, 4)
  w = np.full(2, .5, np.float32)
  tk = distance.TopK(a, w, k=6, chunk=32)
  for s in range(0, 90, 7):  # 13 batches of 7 (the last of 6), merged every >= 32
    tk.add(p[s:s + 7])
  idx, _ = tk.result()
  full = np.asarray(distance.pairwise_naive(a, p, w))
  np.testing.assert_array_equal(idx, np.argsort(full, axis=1, kind='stable')[:, :6])
