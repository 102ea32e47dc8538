"""The TFDS catalog builders (Visual Decathlon, Stanford Dogs, SpotTune's Table 2 CUBS,
Stanford Cars and Oxford Flowers) through the project's TensorFlow-free shim, on fake
downloads in their real layout: the split sizes TFDS's own builder tests expect, and
examples the pipeline can read."""
import io
import os
import re
from unittest import mock

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import checksums
from tensorflow_datasets.core.download import download_manager

from adafilter_jax.data import pipeline
from adafilter_jax.data import prepare as prepare_lib
from adafilter_jax.data.builders import catalog
from adafilter_jax.data.builders import common
from configs import transfer
from tests.data import catalog_fakes


def _prepare_manual(name, data_dir, manual_dir, *, fake_checksums=True):
  """`name` through the project's prepare path from the original files in `manual_dir`:
  TFDS's download manager takes a file there, named as the builder's registered checksums
  name it, instead of downloading it, if its size and SHA-256 match the registered ones.
  `fake_checksums`: register the fakes' (TFDS's URLs and file names kept)."""
  cls = tfds.builder_cls(name)
  infos = {url: checksums.compute_url_info(os.path.join(manual_dir, info.filename))
           for url, info in cls.url_infos.items()} if fake_checksums else cls.url_infos
  with mock.patch.object(cls, 'url_infos', infos):
    (path,) = prepare_lib.prepare(name, data_dir=data_dir, manual_dir=manual_dir)
  return tfds.builder_from_directory(path)


def _sizes(builder):
  return {str(k): v.num_examples for k, v in builder.info.splits.items()}


def _pipeline_labels(data_cfg, num_train):
  """The labels of one training epoch and of the eval split, both sorted, as the
  pipeline's batches carry them."""
  batch = next(pipeline.make_train_iter(data_cfg, global_batch_size=num_train, seed=0,
                                        num_epochs=1, process_index=0, process_count=1))
  assert batch['image'].shape == (num_train, data_cfg.image_size, data_cfg.image_size, 3)
  labels = [int(b['label'][i]) for b in pipeline.make_eval_iter(
      data_cfg, global_batch_size=2, process_index=0, process_count=1)
            for i in range(len(b['label'])) if b['mask'][i]]
  return sorted(batch['label'].tolist()), sorted(labels)


def _stored_image(data_cfg, label):
  """The full eval image of `label` (unique in the split) as the pipeline reads it."""
  for i in range(pipeline.load_dataset_info(data_cfg).num_eval):
    ex = pipeline.get_eval_example(data_cfg, i, crop=False)
    if ex['label'] == label:
      return ex['image']
  raise AssertionError(f'no eval image of label {label}')


def _decoded(jpeg_bytes):
  return np.asarray(Image.open(io.BytesIO(jpeg_bytes)))


def test_decathlon_domain_gives_tfds_dummy_split_sizes(tmp_path):
  fake = str(tmp_path / 'fake')
  want = catalog_fakes.decathlon(fake, 'aircraft')
  builder = catalog_fakes.prepare('visual_domain_decathlon/aircraft', str(tmp_path / 'tfds'),
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
  builder = catalog_fakes.prepare('visual_domain_decathlon/imagenet12', str(tmp_path / 'tfds'),
                     extract=[fake, os.path.join(fake, 'imagenet12.tar')])
  # TFDS's VisualDomainDecathlonImagenetTest: train 3, test 2, validation 1.
  assert _sizes(builder) == want == {'train': 3, 'test': 2, 'validation': 1}


def test_stanford_dogs(tmp_path):
  fake = str(tmp_path / 'fake')
  # The builder takes its 120 label names from the train list: one image per breed.
  breeds = [f'n{2085620 + i:08d}-Breed_{i}' for i in range(120)]
  want = catalog_fakes.stanford_dogs(fake, train=[(b, 1) for b in breeds],
                                     test=[(breeds[0], 2), (breeds[7], 1)])
  builder = catalog_fakes.prepare('stanford_dogs', str(tmp_path / 'tfds'),
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
  fake = str(tmp_path / 'fake')
  # 1-based labels of image ids 1..7: train {1, 2} class 0, validation {3, 4, 5} class 1,
  # test {6, 7} class 2 (the builder subtracts 1)
  paths = catalog_fakes.oxford_flowers102(fake, labels=[1, 1, 2, 2, 2, 3, 3], trnid=[1, 2],
                                          valid=[3, 4, 5], tstid=[6, 7])
  data_dir = str(tmp_path / 'tfds')
  builder = catalog_fakes.prepare('oxford_flowers102', data_dir, extract=paths)
  assert _sizes(builder) == {'train': 2, 'validation': 3, 'test': 2}
  config = transfer.get_config('oxford_flowers')
  config.data.data_dir, config.data.image_size, config.data.resize_size = data_dir, 8, 10
  assert pipeline.splits(config.data) == ('train+validation', 'test')
  info = pipeline.load_dataset_info(config.data)
  assert (info.num_train, info.num_eval, info.num_classes) == (5, 2, 102)
  # one epoch: both splits
  assert _pipeline_labels(config.data, 5) == ([0, 0, 1, 1, 1], [2, 2])


def test_a_missing_part_of_a_joined_split_is_named(tmp_path):
  fake = str(tmp_path / 'fake')
  paths = catalog_fakes.oxford_flowers102(fake, labels=[1, 1, 1], trnid=[1], valid=[2],
                                          tstid=[3])
  data_dir = str(tmp_path / 'tfds')
  catalog_fakes.prepare('oxford_flowers102', data_dir, extract=paths)
  config = transfer.get_config('oxford_flowers')
  config.data.name, config.data.data_dir = 'oxford_flowers102', data_dir
  config.data.train_split = 'train+extra'
  with pytest.raises(ValueError, match=r"oxford_flowers102: no split 'extra' \(in 'train\+extra'\)"):
    pipeline.load_dataset_info(config.data)


_BIRDS = [  # (class folder, in train, (x, y, width, height)) of image ids 1..5; 20x16 images
    ('001.Black_footed_Albatross', True, (1, 2, 10, 8)),
    ('001.Black_footed_Albatross', False, (0, 0, 20, 16)),
    ('002.Laysan_Albatross', True, (3, 3, 4, 4)),
    ('200.Common_Yellowthroat', True, (5, 1, 15, 15)),
    ('200.Common_Yellowthroat', False, (2, 2, 8, 8))]


def test_cubs_from_the_original_archives(tmp_path):
  manual = str(tmp_path / 'manual')
  masks = catalog_fakes.caltech_birds2011(manual, _BIRDS)
  data_dir = str(tmp_path / 'tfds')
  builder = _prepare_manual('caltech_birds2011', data_dir, manual)
  assert _sizes(builder) == {'train': 3, 'test': 2}
  train = {ex['image/filename'].decode(): ex for ex in builder.as_data_source('train')}
  assert sorted(train) == sorted(f'CUB_200_2011/images/{name}' for name, (_, in_train, _)
                                 in zip(masks, _BIRDS) if in_train)
  name = '001.Black_footed_Albatross/Black_footed_Albatross_0001_101.jpg'  # image 1
  ex = train[f'CUB_200_2011/images/{name}']
  # Label: the folder's number - 1; the box normalised by the mask's size (20 x 16).
  assert (int(ex['label']), ex['label_name'].decode()) == (0, 'black_footed_albatross')
  np.testing.assert_allclose(ex['bbox'], [2 / 16, 1 / 20, 10 / 16, 11 / 20], rtol=1e-6)
  # The mask goes through the shim's PNG decode and encode losslessly.
  np.testing.assert_array_equal(ex['segmentation_mask'][..., 0], masks[name])
  config = transfer.get_config('cubs')
  config.data.data_dir, config.data.image_size, config.data.resize_size = data_dir, 8, 10
  info = pipeline.load_dataset_info(config.data)
  assert (info.num_train, info.num_eval, info.num_classes) == (3, 2, 200)
  # Only the images are decoded (by the pipeline's transforms, not TFDS): the masks,
  # image-sized PNGs, are never used.
  with mock.patch.object(tfds.features.Image, 'decode_example_np',
                         side_effect=AssertionError('TFDS decoded an image feature')):
    assert _pipeline_labels(config.data, 3) == ([0, 1, 199], [0, 199])
  # Whole images, not their boxes: image 5 is the test image of class 200.
  np.testing.assert_array_equal(_stored_image(config.data, 199),
                                _decoded(catalog_fakes.jpeg(5)))


_CARS_TRAIN = [(1, (1, 2, 10, 12)), (2, (0, 0, 20, 16)), (196, (4, 4, 9, 9))]
_CARS_TEST = [(196, (2, 3, 18, 15)), (1, (1, 1, 5, 5))]


def test_stanford_cars_from_a_manual_copy_of_the_original_files(tmp_path):
  manual = str(tmp_path / 'manual')
  want = catalog_fakes.cars196(manual, _CARS_TRAIN, _CARS_TEST)
  data_dir = str(tmp_path / 'tfds')
  builder = _prepare_manual('cars196', data_dir, manual)
  assert _sizes(builder) == want == {'train': 3, 'test': 2}
  names = builder.info.features['label'].names
  assert len(names) == 196 and names[195] == 'smart fortwo Convertible 2012'
  train = {ex['id'].decode(): ex for ex in builder.as_data_source('train')}
  assert sorted((k, int(ex['label'])) for k, ex in train.items()) == [
      ('00001', 0), ('00002', 1), ('00003', 195)]
  # x1, y1, x2, y2 in pixels over the image's 20 x 16
  np.testing.assert_allclose(train['00001']['bbox'], [2 / 16, 1 / 20, 12 / 16, 10 / 20],
                             rtol=1e-6)
  config = transfer.get_config('stanford_cars')
  config.data.data_dir, config.data.image_size, config.data.resize_size = data_dir, 8, 10
  info = pipeline.load_dataset_info(config.data)
  assert (info.num_train, info.num_eval, info.num_classes) == (3, 2, 196)
  assert _pipeline_labels(config.data, 3) == ([0, 1, 195], [0, 195])
  # Whole images, not their boxes: cars_test/00001.jpg (seed 1001) is class 196.
  np.testing.assert_array_equal(_stored_image(config.data, 195),
                                _decoded(catalog_fakes.jpeg(1001)))


def test_stanford_cars_manual_copy_must_be_the_original_bytes(tmp_path):
  # What docs/data.md tells a user: TFDS checks a manual copy against the registered
  # size and SHA-256, so a repackaged copy is refused, naming the file.
  manual = str(tmp_path / 'manual')
  catalog_fakes.cars196(manual, _CARS_TRAIN, _CARS_TEST)
  with pytest.raises(download_manager.NonMatchingChecksumError,
                     match=r'manual/cars?_\w+\.(tgz|mat), has wrong checksum'):
    _prepare_manual('cars196', str(tmp_path / 'tfds'), manual, fake_checksums=False)


def test_stanford_cars_without_its_files_says_which_to_put_where(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  (manual / 'cars_train.tgz').write_bytes(b'')
  with pytest.raises(common.MissingManualFileError,
                     match=r"cars196: TFDS's download URLs are dead; put the original "
                           r'car_devkit.tgz, cars_test.tgz, cars_test_annos_withlabels.mat in '
                           + re.escape(f'--manual_dir ({manual})')):
    prepare_lib.prepare('stanford_cars', data_dir=str(tmp_path / 'tfds'), manual_dir=str(manual))


@pytest.mark.parametrize('dtype,channels', [(np.uint8, 1), (np.uint8, 2), (np.uint8, 3),
                                            (np.uint8, 4), (np.uint16, 1)])
def test_numpy_images_are_stored_as_lossless_png(tmp_path, dtype, channels):
  catalog.builder('cars196', data_dir=str(tmp_path))  # installs what TF would do
  image = np.random.RandomState(channels).randint(0, np.iinfo(dtype).max, (5, 7, channels))
  image = image.astype(dtype)
  png = tfds.features.Image(shape=(None, None, channels), dtype=dtype).encode_example(image)
  decoded = np.asarray(Image.open(io.BytesIO(png)))
  np.testing.assert_array_equal(decoded.reshape(image.shape), image)


def test_numpy_jpeg_and_unsupported_images(tmp_path):
  catalog.builder('cars196', data_dir=str(tmp_path))
  image = np.full((8, 8, 3), (200, 40, 90), np.uint8)
  feature = tfds.features.Image(shape=(None, None, 3), encoding_format='jpeg')
  jpeg = Image.open(io.BytesIO(feature.encode_example(image)))
  assert jpeg.format == 'JPEG'
  assert np.abs(np.asarray(jpeg, int) - image).max() <= 3
  with pytest.raises(ValueError, match=r'uint16 image of shape \(4, 4, 3\)'):
    tfds.features.Image(shape=(None, None, 3), dtype=np.uint16).encode_example(
        np.zeros((4, 4, 3), np.uint16))


def test_imdecode_grayscale_is_opencvs_luma(tmp_path):
  catalog.builder('caltech_birds2011', data_dir=str(tmp_path))
  rgb = np.random.RandomState(0).randint(0, 256, (6, 9, 3)).astype(np.uint8)
  buf = io.BytesIO()
  Image.fromarray(rgb).save(buf, 'PNG')
  gray = tfds.core.lazy_imports.cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), 0)
  # OpenCV's RGB -> gray: 0.299 R + 0.587 G + 0.114 B, rounded.
  want = rgb.astype(float) @ [0.299, 0.587, 0.114]
  assert gray.shape == (6, 9) and np.abs(gray - want).max() <= 1
