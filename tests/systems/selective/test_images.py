"""The descriptor pass reads a real prepared split (the offline digits) in order through
grain, with the pipeline's settings: threads, or a worker process, gives the same
images as reading each index directly."""
import numpy as np
import pytest

from adafilter_jax.data import pipeline
from adafilter_jax.systems.selective import images
from tests import tiny_config


@pytest.mark.parametrize('workers', [0, 1])
def test_eval_batches_are_every_image_in_order(workers):
  config = tiny_config.config(**{'data.num_workers': workers})
  split = images.Split(config.data, pipeline.splits(config.data)[0])
  batches = list(split.eval_batches(16))
  assert [len(b) for b in batches] == [16, 16, 16, 2]  # 50 images, the last batch short
  want = np.stack([split.eval_images([i])[0] for i in range(len(split))])
  np.testing.assert_array_equal(np.concatenate(batches), want)
