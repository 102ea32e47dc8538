"""config.data.sample_rate (TLlib's sampling-rate protocol): the right count per class,
at least one, the same images for the same seed, and nothing else of the train split read."""
import collections

import numpy as np
import pytest

from adafilter_jax.data import pipeline, sampling
from tests import tiny_config


def test_count_per_class_at_least_one_and_the_same_images_for_the_same_seed():
  labels = np.repeat(np.arange(5), [20, 7, 3, 1, 10])
  # round-half-up(rate * n), >= 1, by hand: 15 % of 20, 7, 3, 1, 10 = 3, 1.05, .45, .15, 1.5
  expected = {0.15: [3, 1, 1, 1, 2], 0.3: [6, 2, 1, 1, 3], 0.5: [10, 4, 2, 1, 5],
              1.0: [20, 7, 3, 1, 10]}
  for rate, counts in expected.items():
    kept = sampling.sampled_indices(labels, rate, seed=0)
    assert len(set(kept.tolist())) == len(kept) and np.all(np.diff(kept) > 0)
    assert collections.Counter(labels[kept].tolist()) == dict(enumerate(counts)), rate
    np.testing.assert_array_equal(kept, sampling.sampled_indices(labels, rate, seed=0))
  assert not np.array_equal(sampling.sampled_indices(labels, 0.5, seed=0),
                            sampling.sampled_indices(labels, 0.5, seed=1))
  # A class's draw depends on its own members only: another class changing leaves it.
  other = np.concatenate([labels, [1, 1, 1, 1]])
  kept, base = (sampling.sampled_indices(l, 0.5, seed=0) for l in (other, labels))
  np.testing.assert_array_equal(kept[other[kept] == 4], base[labels[base] == 4])
  for bad in (0.0, 1.5, -0.1):
    with pytest.raises(ValueError, match=f'sample_rate={bad}'):
      sampling.sampled_indices(labels, bad, seed=0)


def _images(data_cfg):
  source = pipeline.data_source(data_cfg, 'train')
  return [source[i]['image'] for i in range(len(source))], [
      int(source[i]['label']) for i in range(len(source))]


def test_the_train_split_is_the_sample_and_the_eval_split_is_whole():
  """The digits (10 training images per class): 30 % keeps 3 of each, the same ones
  whatever the run's seed, other ones for another sample_seed."""
  config = tiny_config.config(**{'data.sample_rate': 0.3})
  full = tiny_config.config()
  images, labels = _images(config.data)
  assert collections.Counter(labels) == {c: 3 for c in range(5)}
  all_images, _ = _images(full.data)
  assert all(any(im == other for other in all_images) for im in images)  # a subset
  info = pipeline.load_dataset_info(config.data)
  assert info.num_train == 15
  assert info.num_eval == pipeline.load_dataset_info(full.data).num_eval

  sampling._SAMPLED.clear()  # drawn again, from the labels
  again = tiny_config.config(**{'data.sample_rate': 0.3, 'seed': 7})
  assert _images(again.data)[0] == images
  other = tiny_config.config(**{'data.sample_rate': 0.3, 'data.sample_seed': 1})
  assert _images(other.data)[0] != images

  # val_fraction holds out of the sample: 1 of each class's 3, the training stream the rest.
  held = tiny_config.config(**{'data.sample_rate': 0.3, 'data.val_fraction': 0.3})
  held_images, held_labels = zip(*[(ex['image'], int(ex['label'])) for ex in (
      pipeline.data_source(held.data, 'heldout')[i] for i in range(5))])
  train_images, _ = _images(held.data)
  assert sorted(held_labels) == list(range(5)) and len(train_images) == 10
  assert set(held_images) | set(train_images) == set(images)

  with pytest.raises(ValueError, match='sample_rate=0.0'):
    pipeline.load_dataset_info(tiny_config.config(**{'data.sample_rate': 0.0}).data)
