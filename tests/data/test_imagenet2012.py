"""TFDS's manual `imagenet2012` builder through the project's TensorFlow-free shim, on a
fake manual directory in the real layout, and read back as selective joint FT's source.

The fake (tiny images, 3 classes): ILSVRC2012_img_train.tar holding one tar per class
(n01440764.tar, ...) of <wnid>_<n>.JPEG files, and ILSVRC2012_img_val.tar holding
ILSVRC2012_val_<8 digits>.JPEG at its top level, whose labels TFDS takes from its own
validation_labels.txt (line i = the i-th image in name order). Two train files carry the
names TFDS re-encodes: a CMYK JPEG and a PNG saved as .JPEG, as in the real archive.
"""
import io
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.data import prepare as prepare_lib
from adafilter_jax.systems.selective import images
from configs import base
from tests.data import catalog_fakes

_TFDS_DIR = os.path.join(os.path.dirname(tfds.__file__), 'datasets', 'imagenet2012')
CMYK, PNG = 'n01739381_1309.JPEG', 'n02105855_2933.JPEG'  # in the builder's lists
TRAIN = {'n01440764': ['n01440764_10026.JPEG', 'n01440764_2.JPEG'],
         'n01739381': [CMYK], 'n02105855': [PNG, 'n02105855_7.JPEG']}
NUM_VAL = 3


def _image(seed: int, name: str) -> bytes:
  # One flat colour per image: JPEG keeps it to within a few levels, so the re-encoded
  # pixels can be compared.
  colour = np.random.default_rng(seed).integers(30, 226, 3).astype(np.uint8)
  img = Image.fromarray(np.broadcast_to(colour, (8, 10, 3)).copy())
  buf = io.BytesIO()
  if name == CMYK:
    img.convert('CMYK').save(buf, 'JPEG')
  else:
    img.save(buf, 'PNG' if name == PNG else 'JPEG')
  return buf.getvalue()


def fake_manual_dir(root: str) -> str:
  inner = os.path.join(root, 'per_class')
  os.makedirs(inner)
  class_tars = {}
  for wnid, files in TRAIN.items():
    path = os.path.join(inner, f'{wnid}.tar')
    catalog_fakes.tar(path, {f: _image(i, f) for i, f in enumerate(files)})
    with open(path, 'rb') as f:
      class_tars[f'{wnid}.tar'] = f.read()
  catalog_fakes.tar(os.path.join(root, 'ILSVRC2012_img_train.tar'), class_tars)
  catalog_fakes.tar(os.path.join(root, 'ILSVRC2012_img_val.tar'),
                    {f'ILSVRC2012_val_{i:08d}.JPEG': _image(100 + i, '')
                     for i in range(1, NUM_VAL + 1)})
  return root


def _lines(name):
  with open(os.path.join(_TFDS_DIR, name)) as f:
    return f.read().split()


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('imagenet')
  manual = fake_manual_dir(str(tmp / 'manual'))
  data_dir = str(tmp / 'tfds')
  (path,) = prepare_lib.prepare('imagenet2012', data_dir=data_dir, manual_dir=manual)
  return data_dir, tfds.builder_from_directory(path)


def test_split_sizes_and_labels(prepared):
  _, builder = prepared
  assert {str(k): v.num_examples for k, v in builder.info.splits.items()} == {
      'train': 5, 'validation': NUM_VAL}  # no test tar: no test split
  wnids = _lines('labels.txt')
  assert builder.info.features['label'].names == wnids and len(wnids) == 1000
  train = builder.as_data_source('train')
  got = sorted((ex['file_name'].decode(), int(ex['label'])) for ex in train)
  want = sorted((f, wnids.index(w)) for w, fs in TRAIN.items() for f in fs)
  assert got == want
  val = builder.as_data_source('validation')
  got = sorted((ex['file_name'].decode(), int(ex['label'])) for ex in val)
  val_wnids = _lines('validation_labels.txt')[:NUM_VAL]
  assert got == [(f'ILSVRC2012_val_{i:08d}.JPEG', wnids.index(val_wnids[i - 1]))
                 for i in range(1, NUM_VAL + 1)]


def test_cmyk_and_png_are_stored_as_rgb_jpegs(prepared):
  _, builder = prepared
  train = builder.as_data_source('train', decoders={'image': tfds.decode.SkipDecoding()})
  stored = {ex['file_name'].decode(): ex['image'] for ex in train}
  for name in (CMYK, PNG):
    img = Image.open(io.BytesIO(stored[name]))
    assert (img.format, img.mode, img.size) == ('JPEG', 'RGB', (10, 8)), name
    # The colours survive the conversion (both are their class's first file: seed 0).
    want = np.asarray(Image.open(io.BytesIO(_image(0, PNG))), int)
    assert np.abs(np.asarray(img, int) - want).max() <= 3, name


def test_selective_source_reads_it(prepared):
  data_dir, _ = prepared
  config = base.get_config()
  methods.apply_recipe('selective_joint', config)
  source = config.selective.source
  assert source.name == 'imagenet2012'
  source.data_dir = data_dir
  source.image_size, source.resize_size = 8, 10
  # What run.run asks of the source: its classes (train and eval splits must exist).
  info = pipeline.load_dataset_info(source)
  assert (info.num_classes, info.num_train) == (1000, 5)
  split = images.Split(source, source.train_split)
  wnids = _lines('labels.txt')
  assert sorted(split.labels.tolist()) == sorted(
      wnids.index(w) for w, fs in TRAIN.items() for f in fs)
  assert split.eval_images([0, 4]).shape == (2, 8, 8, 3)
  assert split.train_images([1], [(0, 0)]).shape == (1, 8, 8, 3)


def test_unprepared_source_says_how_to_prepare_it(tmp_path):
  config = base.get_config()
  methods.apply_recipe('selective_joint', config)
  source = config.selective.source
  source.data_dir, source.manual_dir = str(tmp_path / 'empty'), '/downloads/imagenet'
  with pytest.raises(pipeline.DatasetNotPreparedError) as e:
    images.Split(source, source.train_split)
  assert (f'python -m adafilter_jax.data.prepare imagenet2012 --manual_dir '
          f'/downloads/imagenet --data_dir {tmp_path / "empty"}') in str(e.value)
