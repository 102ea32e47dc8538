"""Policy diagnostics against hand computations on planted decisions."""
import math

import numpy as np
import pytest

from adafilter_jax.train import policy


def _entropy_bits(p):
  p = np.asarray(p, float)
  p = p[p > 0]
  return float(-(p * np.log2(p)).sum())


def test_static_policy_has_no_varying_filter_and_no_information():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 4, 50)
  static = np.tile(rng.integers(0, 2, 12).astype(bool), (50, 1))  # same row for every image
  d = policy.layer_diagnostics(static, labels, 4, initial=static)
  assert d['varying'] == 0.0 and d['mi_bits'] == 0.0 and d['changed'] == 0.0
  assert d['mi_shuffled_bits'] == 0.0
  assert d['image_std'] == 0.0 and d['image_min'] == d['image_max'] == static[0].mean()


def test_policy_equal_to_the_class_gives_the_class_entropy():
  labels = np.array([0] * 3 + [1] * 9)  # p(y) = (1/4, 3/4)
  decisions = np.stack([labels == 1, labels == 0, labels == 1], 1)  # each filter = the class
  mi = policy.mutual_information(decisions, labels, 2)
  np.testing.assert_allclose(mi, _entropy_bits([0.25, 0.75]), atol=1e-12)  # 0.8113 bits
  d = policy.layer_diagnostics(decisions, labels, 2)
  assert d['varying'] == 1.0 and d['mi_bits'] == pytest.approx(0.811278, abs=1e-6)


def test_hand_computed_small_planted_array():
  labels = np.array([0, 0, 1, 1])
  # filter 0 static (always F), filter 1 = the class, filter 2 independent of it,
  # filter 3 = [1, 0, 1, 1]: I = H(Y) − H(Y|G) = 1 − 3/4·H(1/3, 2/3).
  d = np.array([[1, 0, 1, 1],
                [1, 0, 0, 0],
                [1, 1, 1, 1],
                [1, 1, 0, 1]], bool)
  mi = policy.mutual_information(d, labels, 3)  # a third class, absent, changes nothing
  h13 = -(1 / 3 * math.log2(1 / 3) + 2 / 3 * math.log2(2 / 3))
  np.testing.assert_allclose(mi, [0.0, 1.0, 0.0, 1 - 0.75 * h13], atol=1e-12)
  initial = np.zeros_like(d)
  out = policy.diagnose(['a', 'b'], [d[:, :1], d[:, 1:]], labels, 3,
                        initial=[initial[:, :1], initial[:, 1:]])
  assert out['layers']['a'] == {'fraction': 1.0, 'varying': 0.0, 'image_std': 0.0,
                                'image_min': 1.0, 'image_max': 1.0, 'mi_bits': 0.0,
                                'mi_shuffled_bits': 0.0, 'changed': 1.0}
  b = out['layers']['b']
  assert b['varying'] == 1.0 and b['fraction'] == pytest.approx(7 / 12)
  # per-image fractions over filters 1-3: 2/3, 0, 1, 2/3 -> mean 7/12
  per_image = np.array([2, 0, 3, 2]) / 3
  assert b['image_std'] == pytest.approx(math.sqrt(((per_image - 7 / 12) ** 2).mean()))
  assert (b['image_min'], b['image_max']) == (0.0, 1.0)
  assert b['mi_bits'] == pytest.approx((1.0 + 0.0 + 1 - 0.75 * h13) / 3)
  assert b['changed'] == pytest.approx(7 / 12)
  a = out['all']  # every filter together
  assert a['varying'] == 0.75 and a['changed'] == pytest.approx(11 / 16)
  assert a['mi_bits'] == pytest.approx((1.0 + 1 - 0.75 * h13) / 4)
  np.testing.assert_allclose(policy.filter_shares([d[:, :1], d[:, 1:]]), [1, .5, .5, .75])


def test_unpack_inverts_packbits_per_layer():
  rng = np.random.default_rng(1)
  layers = [rng.integers(0, 2, (7, c)).astype(bool) for c in (3, 8, 6)]  # 17 bits, 3 bytes
  packed = np.packbits(np.concatenate(layers, 1), axis=1)
  for got, want in zip(policy.unpack(packed, [3, 8, 6]), layers):
    np.testing.assert_array_equal(got, want)
  with pytest.raises(ValueError, match=r'expected \[N, 2\]'):
    policy.unpack(packed, [3, 8])


def test_bernoulli_reference_matches_simulated_random_policy():
  rng = np.random.default_rng(2)
  n, channels, k = 400, [16, 64], 5
  labels = rng.integers(0, k, n)
  draws = [rng.random((n, c)) < 0.5 for c in channels]
  start = [rng.random((n, c)) < 0.5 for c in channels]
  got = policy.diagnose(['x', 'y'], draws, labels, k, start)
  ref = policy.bernoulli_reference(['x', 'y'], channels, n, k)
  for name in ('x', 'y'):
    g, r = got['layers'][name], ref['layers'][name]
    assert g['varying'] == r['varying'] == 1.0
    assert g['changed'] == pytest.approx(r['changed'], abs=0.03)
    assert g['image_std'] == pytest.approx(r['image_std'], rel=0.15)
    # the plug-in MI of independent bits: its bias, (K-1)/(2 N ln 2) = 0.0072 bits
    assert g['mi_bits'] == pytest.approx(r['mi_bits'], rel=0.35)


def test_shuffled_labels_remove_the_class_information():
  """A policy that copies a balanced two-class label: 1 bit; with the labels shuffled,
  only the estimator's level for independent bits, (K-1)/(2 N ln 2) = 0.0036 bits."""
  labels = np.arange(200) % 2
  d = policy.layer_diagnostics(np.tile(labels[:, None] == 1, (1, 4)), labels, 2)
  assert d['mi_bits'] == pytest.approx(1.0)
  assert d['mi_shuffled_bits'] < 0.03
  np.testing.assert_array_equal(np.sort(policy.shuffled(labels)), np.sort(labels))
