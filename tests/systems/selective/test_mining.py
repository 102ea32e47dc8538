"""Eq. 2-3 on a hand-written table; the sampler's draws, determinism and rates."""
import numpy as np
import pytest

from adafilter_jax.systems.selective import mining, sampler


def test_entropy_by_hand():
  p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.9, 0.05, 0.05]])
  want = [0.0, np.log(2), -(0.9 * np.log(0.9) + 2 * 0.05 * np.log(0.05))]
  np.testing.assert_allclose(mining.entropy(p), want, rtol=1e-12)


def test_eq3_on_a_hand_written_table():
  # (prediction, label, entropy, K before) -> K after, K0 = 10, delta = 0.1
  table = [
      (3, 3, 0.05, 10, 10),    # right and sure: unchanged
      (3, 3, 0.10, 10, 30),    # right, H = delta exactly: += 2 K0
      (3, 3, 0.70, 50, 70),    # right, unsure: += 2 K0
      (1, 3, 0.01, 10, 50),    # wrong (however sure): += 4 K0
      (0, 2, 1.50, 90, 130),   # wrong: += 4 K0
  ]
  pred, label, ent, k, want = map(np.array, zip(*table))
  np.testing.assert_array_equal(mining.update_k(k, pred, label, ent, k0=10), want)
  np.testing.assert_array_equal(mining.hardness(pred, label, ent, 0.1), [0, 1, 1, 2, 2])
  # The official code's cap at 10 K0.
  np.testing.assert_array_equal(
      mining.update_k(k, pred, label, ent, k0=10, cap=100), np.minimum(want, 100))


def _table(n, kmax, seed=0):
  return np.random.default_rng(seed).permutation(1000)[:n * kmax].reshape(n, kmax)


def test_every_source_is_in_the_current_top_k_and_ranks_are_uniform():
  n, kmax = 6, 12
  table = _table(n, kmax)
  k = np.array([1, 2, 3, 5, 8, 12])
  s = sampler.JointSampler(n, 4, seed=3, round_=1, neighbours=table, k=k)
  counts = np.zeros((n, kmax))
  visits = np.zeros(n)
  for step in range(3000):
    b = s.batch(step)
    for t, src in zip(b.target, b.source):
      ranks = np.flatnonzero(table[t] == src)
      assert ranks.size and ranks.min() < k[t]
      counts[t, ranks.min()] += 1
      visits[t] += 1
  np.testing.assert_array_equal(visits, 2000)  # 12000 draws over 6 targets: 2000 epochs each
  for t in range(n):
    freq = counts[t, :k[t]] / visits[t]
    # Uniform over the top K_i: within 4 standard deviations of 1/K_i.
    sd = np.sqrt((1 / k[t]) * (1 - 1 / k[t]) / visits[t])
    assert np.all(np.abs(freq - 1 / k[t]) <= 4 * sd + 1e-12), (t, freq)


def test_deterministic_in_seed_round_step():
  table, k = _table(10, 5), np.full(10, 5)
  a = sampler.JointSampler(10, 3, seed=0, round_=2, neighbours=table, k=k)
  b = sampler.JointSampler(10, 3, seed=0, round_=2, neighbours=table, k=k)
  for step in (7, 0, 3):  # any order, a fresh sampler: same batch
    x, y = a.batch(step), b.batch(step)
    np.testing.assert_array_equal(x.target, y.target)
    np.testing.assert_array_equal(x.source, y.source)
    assert x.source_seeds == y.source_seeds
  other = sampler.JointSampler(10, 3, seed=1, round_=2, neighbours=table, k=k)
  assert any((a.batch(s).source != other.batch(s).source).any() for s in range(5))


def test_pool_mode_and_bad_k():
  table = np.array([[1, 2, 3], [3, 4, 5]])
  sel = sampler.JointSampler(2, 2, 0, 0, neighbours=table, k=np.array([2, 3]))
  table[1, 0] = 2
  assert sel.num_source_images() == 4  # {1, 2} | {2, 4, 5}
  pool = np.array([5, 9, 11])
  s = sampler.JointSampler(4, 2, seed=0, round_=0, pool=pool)
  assert s.num_source_images() == 3 and sampler.JointSampler(4, 2, 0, 0).num_source_images() == 0
  assert set(np.concatenate([s.batch(i).source for i in range(50)])) == {5, 9, 11}
  with pytest.raises(ValueError, match='K_i must be'):
    sampler.JointSampler(4, 2, 0, 0, neighbours=_table(4, 3), k=np.array([1, 2, 3, 4]))


def _epoch_draws(s, epoch_size, epochs):
  steps = epoch_size * epochs // s.batch_size
  assert steps * s.batch_size == epoch_size * epochs
  drawn = np.concatenate([s.batch(step).target for step in range(steps)])
  return drawn.reshape(epochs, epoch_size)


def test_off_draws_the_seeded_permutation_of_each_epoch():
  # Without oversampling (the paper), epoch e is np.random.default_rng([seed, round, e])
  # permuting the target indices, read across epoch ends; repeats of all ones is the same.
  n, seed, round_ = 7, 5, 2
  want = np.concatenate([np.random.default_rng([seed, round_, e]).permutation(n)
                         for e in range(3)])
  for repeats in (None, np.ones(n, np.int64)):
    s = sampler.JointSampler(n, 3, seed=seed, round_=round_, repeats=repeats)
    got = np.concatenate([s.batch(step).target for step in range(7)])
    np.testing.assert_array_equal(got, want)


def test_sampling_levels_by_hand():
  # K0 = 10: K_i -> L_i = K_i // K0 (at least 1; a cap or the index width may leave K_i
  # off a multiple of K0, then rounded down).
  np.testing.assert_array_equal(mining.sampling_levels([10, 50, 30, 90, 100, 45, 3], 10),
                                [1, 5, 3, 9, 10, 4, 1])
  with pytest.raises(ValueError, match='K0 must be'):
    mining.sampling_levels([10], 0)


def test_hard_images_are_drawn_their_level_times_per_epoch():
  # After round 0 (K_i = K0 = 10 for all): easy, unsure, wrong, wrong, easy by Eq. 3 ->
  # K = 10, 30, 50, 50, 10 -> drawn 1, 3, 5, 5, 1 times in every epoch of 15 draws.
  pred, label = np.array([0, 1, 0, 2, 1]), np.array([0, 1, 1, 0, 1])
  ent = np.array([0.01, 0.5, 0.01, 0.9, 0.05])
  k = mining.update_k(np.full(5, 10), pred, label, ent, k0=10)
  table = _table(5, 60)
  s = sampler.JointSampler(5, 4, seed=1, round_=1, neighbours=table, k=k,
                           repeats=mining.sampling_levels(k, 10))
  draws = _epoch_draws(s, 15, 4)  # 60 draws, batches of 4 straddling epoch ends
  for epoch in draws:
    np.testing.assert_array_equal(np.bincount(epoch, minlength=5), [1, 3, 5, 5, 1])
  assert len({tuple(e) for e in draws}) > 1  # each epoch shuffled anew
  # Each drawn target's source partner is still from its own top K_i.
  for step in range(15):
    b = s.batch(step)
    for t, src in zip(b.target, b.source):
      assert src in table[t, :k[t]]


def test_make_sampler_switch():
  from adafilter_jax.systems.selective import run
  from tests.systems.selective import tiny
  k, table = np.array([10, 30, 50]), _table(3, 60)
  for mode in ('selective', 'none'):
    on = run.make_sampler(tiny.config(oversample_hard=True, k0=10, source_mode=mode,
                                      target_batch=3), 0, k, table, 3, 1000)
    np.testing.assert_array_equal(np.bincount(_epoch_draws(on, 9, 2)[1]), [1, 3, 5])
    off = run.make_sampler(tiny.config(k0=10, source_mode=mode, target_batch=3), 0, k,
                           table, 3, 1000)
    np.testing.assert_array_equal(np.bincount(_epoch_draws(off, 3, 3)[2]), [1, 1, 1])


def test_bad_repeats():
  for bad in (np.array([1, 0, 2]), np.array([1, 2]), np.array([1.0, 2.0, 3.0])):
    with pytest.raises(ValueError, match='repeats must be 3 integers'):
      sampler.JointSampler(3, 2, 0, 0, repeats=bad)
