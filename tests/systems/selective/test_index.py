"""Retrieval end to end on real images (sklearn digits) through the Gabor bank, and the
on-disk cache: reused for the same key, rebuilt when anything in it changes."""
import numpy as np
from sklearn.datasets import load_digits

from adafilter_jax.systems.selective import gabor, index


def _digits(n, offset):
  d = load_digits().images[offset:offset + n]
  img = np.kron(d, np.ones((3, 3))) * (255 / 16)  # 24 px
  return np.repeat(img[..., None], 3, -1).astype(np.uint8)


class _Counting:
  def __init__(self, bank):
    self.bank, self.calls, self.name, self.layer_sizes = bank, 0, bank.name, bank.layer_sizes

  def settings(self):
    return self.bank.settings()

  def responses(self, images):
    self.calls += 1
    return self.bank.responses(images)


def _batches(images, bs=8):  # one batch shape: one compile
  return lambda: (images[i:i + bs] for i in range(0, len(images), bs))


def test_exact_copies_are_found_first_and_the_cache_is_keyed(tmp_path):
  targets = _digits(8, 0)
  distractors = _digits(56, 100)
  rng = np.random.default_rng(0)
  where = rng.choice(64, 8, replace=False)
  source = np.empty((64,) + targets.shape[1:], np.uint8)
  source[where] = targets
  source[np.setdiff1d(np.arange(64), where)] = distractors
  bank = _Counting(gabor.GaborBank(24))
  key = index.cache_key(bank, {'name': 't', 'num': 8}, {'name': 's', 'num': 64}, 8, 5)
  idx = index.build_or_load(bank, _batches(targets), _batches(source), key, str(tmp_path))
  np.testing.assert_array_equal(idx.neighbours[:, 0], where)
  np.testing.assert_allclose(idx.distances[:, 0], 0.0, atol=1e-5)
  assert (idx.distances[:, 1] > 1e-4).all()
  calls = bank.calls

  again = index.build_or_load(bank, _batches(targets), _batches(source), key, str(tmp_path))
  assert bank.calls == calls  # loaded, not recomputed
  np.testing.assert_array_equal(again.neighbours, idx.neighbours)

  for changed, src in ((dict(key, num_bins=4), source),
                       (dict(key, source={'name': 's', 'num': 56}), source[:56])):
    before = bank.calls
    index.build_or_load(bank, _batches(targets), _batches(src), changed, str(tmp_path))
    assert bank.calls > before, changed
  assert len(list(tmp_path.glob('index_*.npz'))) == 3
