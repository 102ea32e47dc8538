"""TFDS's own `omniglot` catalog builder, TF-free (data/builders/catalog.py), on the real
files of brendenlake/omniglot: skipped only where they are absent. $OMNIGLOT_DIR names
the folder holding them (default: TFDS's manual dir, ~/tensorflow_datasets/downloads/manual)."""
import os

import pytest
import tensorflow_datasets as tfds

from adafilter_jax.data import prepare

DIR = os.path.expanduser(os.environ.get('OMNIGLOT_DIR', '~/tensorflow_datasets/downloads/manual'))
ALL = ('images_background.zip', 'images_evaluation.zip', 'images_background_small1.zip',
       'images_background_small2.zip')
SMALL = ALL[2:]


def _have(names):
  return all(os.path.isfile(os.path.join(DIR, n)) for n in names)


def _splits(paths):
  (path,) = paths
  return {s: v.num_examples for s, v in tfds.builder_from_directory(path).info.splits.items()}


@pytest.mark.skipif(not _have(ALL), reason=f'the four Omniglot archives are not in {DIR}')
def test_split_sizes_on_the_real_files(tmp_path):
  """All four archives, checked against TFDS's registered checksums: TFDS's split sizes
  (background 964 characters, evaluation 659, x 20 drawers)."""
  got = _splits(prepare.prepare('omniglot', data_dir=str(tmp_path), manual_dir=DIR))
  assert got == {'train': 19280, 'test': 13180, 'small1': 2720, 'small2': 3120}


@pytest.mark.skipif(not _have(SMALL), reason=f'the two small Omniglot archives are not in {DIR}')
def test_catalog_module_walks_real_archives_without_tensorflow(tmp_path):
  """Where only the two small archives are at hand (a full prepare needs all four: the
  builder fixes 50 alphabets and 1623 classes): TFDS's own omniglot code, through the
  shim, walks their real images and names their classes."""
  from adafilter_jax.data.builders import catalog  # pylint: disable=g-import-not-at-top
  from adafilter_jax.data.builders import common  # pylint: disable=g-import-not-at-top
  catalog.builder('omniglot', data_dir=str(tmp_path))  # installs the shim
  from tensorflow_datasets.image_classification import omniglot  # pylint: disable=g-import-not-at-top
  dirs = [common.extract(os.path.join(DIR, n), str(tmp_path)) for n in SMALL]
  examples = [list(omniglot._walk_omniglot_dir(d)) for d in dirs]  # pylint: disable=protected-access
  assert [len(e) for e in examples] == [2720, 3120]  # TFDS's small1 / small2 split sizes
  alphabets, names = omniglot._get_names(dirs)  # pylint: disable=protected-access
  assert sorted(alphabets) == ['Balinese', 'Early_Aramaic', 'Greek', 'Japanese_(katakana)',
                               'Korean', 'Latin', 'Sanskrit', 'Tagalog']
  assert len(names) == 136 + 156 - 24 - 26  # Greek's 24 and Latin's 26 are in both
