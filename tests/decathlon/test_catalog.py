"""The TFDS catalog builders (Visual Decathlon, Stanford Dogs) through the project's
TensorFlow-free shim, on fake downloads in TFDS's dummy_data layout: the split sizes
TFDS's own builder tests expect, and examples the pipeline can read."""
import os
from unittest import mock

import numpy as np
import tensorflow_datasets as tfds

from adafilter_jax.data.builders import catalog
from tests.decathlon import catalog_fakes


def _prepare(name, data_dir, download=None, extract=None):
  builder = catalog.builder(name, data_dir=data_dir)
  with mock.patch.object(tfds.download.DownloadManager, 'download', return_value=download), \
       mock.patch.object(tfds.download.DownloadManager, 'download_and_extract',
                         return_value=extract):
    builder.download_and_prepare()
  return builder


def _sizes(builder):
  return {str(k): v.num_examples for k, v in builder.info.splits.items()}


def test_decathlon_domain_gives_tfds_dummy_split_sizes(tmp_path):
  fake = str(tmp_path / 'fake')
  want = catalog_fakes.decathlon(fake, 'aircraft')
  builder = _prepare('visual_domain_decathlon/aircraft', str(tmp_path / 'tfds'),
                     extract=[fake, fake])
  # TFDS's VisualDomainDecathlonGenericTest: train 2, test 1, validation 1.
  assert _sizes(builder) == want == {'train': 2, 'test': 1, 'validation': 1}
  source = builder.as_data_source(split='validation')
  assert source[0]['label'] == 0 and source[0]['image'].shape == (16, 20, 3)
  assert builder.info.features['label'].num_classes == 100


def test_decathlon_imagenet12_reads_its_separate_archive(tmp_path):
  fake = str(tmp_path / 'fake')
  want = catalog_fakes.decathlon(fake, 'imagenet12', train=(1, 2, 3), val=(4,), test=(5, 6))
  builder = _prepare('visual_domain_decathlon/imagenet12', str(tmp_path / 'tfds'),
                     extract=[fake, os.path.join(fake, 'imagenet12.tar')])
  # TFDS's VisualDomainDecathlonImagenetTest: train 3, test 2, validation 1.
  assert _sizes(builder) == want == {'train': 3, 'test': 2, 'validation': 1}


def test_stanford_dogs(tmp_path):
  fake = str(tmp_path / 'fake')
  # The builder takes its 120 label names from the train list: one image per breed.
  breeds = [f'n{2085620 + i:08d}-Breed_{i}' for i in range(120)]
  want = catalog_fakes.stanford_dogs(fake, train=[(b, 1) for b in breeds],
                                     test=[(breeds[0], 2), (breeds[7], 1)])
  builder = _prepare('stanford_dogs', str(tmp_path / 'tfds'),
                     download=os.path.join(fake, 'Images.tar'),
                     extract=[os.path.join(fake, 'list.tar'),
                              os.path.join(fake, 'Annotation.tar')])
  assert _sizes(builder) == want == {'train': 120, 'test': 3}
  assert builder.info.features['label'].names == sorted(b.lower() for b in breeds)
  test = builder.as_data_source(split='test')
  assert sorted(int(test[i]['label']) for i in range(3)) == [0, 0, 7]
  np.testing.assert_allclose(test[0]['objects']['bbox'][0],
                             [2 / 16, 1 / 20, 12 / 16, 10 / 20], rtol=1e-6)
