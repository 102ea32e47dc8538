"""The TFDS catalog builders (Visual Decathlon, Stanford Dogs) through the project's
TensorFlow-free shim, on fake downloads in TFDS's dummy_data layout: the split sizes
TFDS's own builder tests expect, and examples the pipeline can read."""
import os
from unittest import mock

import numpy as np
import pytest
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
  # TFDS's stripped test annotation lists images 4 and 6
  want = catalog_fakes.decathlon(fake, 'imagenet12', train=(1, 2, 3), val=(5,), extra=(7,))
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


def test_oxford_flowers_trains_on_train_and_validation(tmp_path):
  from adafilter_jax.data import pipeline
  from configs import oxford_flowers
  fake = str(tmp_path / 'fake')
  # 1-based labels of image ids 1..7: train {1, 2} class 0, validation {3, 4, 5} class 1,
  # test {6, 7} class 2 (the builder subtracts 1)
  paths = catalog_fakes.oxford_flowers102(fake, labels=[1, 1, 2, 2, 2, 3, 3], trnid=[1, 2],
                                          valid=[3, 4, 5], tstid=[6, 7])
  data_dir = str(tmp_path / 'tfds')
  builder = _prepare('oxford_flowers102', data_dir, extract=paths)
  assert _sizes(builder) == {'train': 2, 'validation': 3, 'test': 2}
  config = oxford_flowers.get_config()
  config.data.data_dir, config.data.image_size, config.data.resize_size = data_dir, 8, 10
  assert pipeline.splits(config.data) == ('train+validation', 'test')
  info = pipeline.load_dataset_info(config.data)
  assert (info.num_train, info.num_eval, info.num_classes) == (5, 2, 102)
  batch = next(pipeline.make_train_iter(config.data, global_batch_size=5, seed=0,
                                        num_epochs=1, process_index=0, process_count=1))
  assert sorted(batch['label'].tolist()) == [0, 0, 1, 1, 1]  # one epoch: both splits
  labels = [int(b['label'][i]) for b in pipeline.make_eval_iter(
      config.data, global_batch_size=2, process_index=0, process_count=1)
            for i in range(len(b['label'])) if b['mask'][i]]
  assert labels == [2, 2]


def test_a_missing_part_of_a_joined_split_is_named(tmp_path):
  from adafilter_jax.data import pipeline
  from configs import oxford_flowers
  fake = str(tmp_path / 'fake')
  paths = catalog_fakes.oxford_flowers102(fake, labels=[1, 1, 1], trnid=[1], valid=[2],
                                          tstid=[3])
  data_dir = str(tmp_path / 'tfds')
  _prepare('oxford_flowers102', data_dir, extract=paths)
  config = oxford_flowers.get_config()
  config.data.name, config.data.data_dir = 'oxford_flowers102', data_dir
  config.data.train_split = 'train+extra'
  with pytest.raises(ValueError, match=r"oxford_flowers102: no split 'extra' \(in 'train\+extra'\)"):
    pipeline.load_dataset_info(config.data)
