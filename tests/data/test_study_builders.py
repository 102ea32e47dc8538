"""The study's tasks: k shots per class, one eval set for every k, nested train sets."""
import os

import pytest
import tensorflow_datasets as tfds

from adafilter_jax.data import prepare as prepare_lib

OMNIGLOT_DIR = os.path.expanduser(
    os.environ.get('OMNIGLOT_DIR', '~/tensorflow_datasets/downloads/manual'))
SMALL = ('images_background_small1.zip', 'images_background_small2.zip')


def _names(builder, split):
  src = builder.as_data_source(split)
  return [src[i]['file_name'].decode() for i in range(len(src))]


def _prepared(name, data_dir, manual_dir=None):
  (path,) = prepare_lib.prepare(name, data_dir=data_dir, manual_dir=manual_dir)
  return tfds.builder_from_directory(path)


def test_digits_shots_share_one_eval_set(tmp_path):
  few, more = (_prepared(f'digits/shots{k}', str(tmp_path)) for k in (5, 25))
  assert {s: v.num_examples for s, v in few.info.splits.items()} == {'train': 25, 'test': 396}
  assert more.info.splits['train'].num_examples == 125
  assert sorted(_names(few, 'test')) == sorted(_names(more, 'test'))
  assert set(_names(few, 'train')) < set(_names(more, 'train'))
  assert not set(_names(more, 'train')) & set(_names(more, 'test'))


@pytest.mark.skipif(not all(os.path.isfile(os.path.join(OMNIGLOT_DIR, n)) for n in SMALL),
                    reason=f'the two small Omniglot archives are not in {OMNIGLOT_DIR}')
def test_omniglot_small_on_the_real_archives(tmp_path):
  source = _prepared('omniglot_small/source', str(tmp_path), OMNIGLOT_DIR)
  assert {s: v.num_examples for s, v in source.info.splits.items()} == {'train': 1696,
                                                                         'test': 424}
  few, more = (_prepared(f'omniglot_small/shots{k}', str(tmp_path), OMNIGLOT_DIR)
               for k in (1, 5))
  assert {s: v.num_examples for s, v in few.info.splits.items()} == {'train': 86, 'test': 430}
  assert sorted(_names(few, 'test')) == sorted(_names(more, 'test'))
  assert set(_names(few, 'train')) < set(_names(more, 'train'))
  alphabets = lambda b: {n.split('/')[0] for n in b.info.features['label'].names}
  assert alphabets(source) == {'Japanese_(katakana)', 'Sanskrit', 'Tagalog'}
  assert alphabets(few) == {'Balinese', 'Early_Aramaic', 'Korean'}
