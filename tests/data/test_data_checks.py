"""A user's own image folders with a class missing from a split fail when prepared,
naming the class and the split (a class never trained on, or never evaluated, would
otherwise only lower a number)."""

import os
import shutil

import pytest

import data_fakes
from adafilter_jax.data import prepare as prepare_lib


def test_class_missing_from_the_eval_split(tmp_path):
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), classes=('cat', 'dog', 'owl'),
                                   per_class=2, splits=['train', 'test'])
  shutil.rmtree(os.path.join(manual, 'test', 'dog'))
  with pytest.raises(ValueError, match=r"class 'dog' has no images in split 'test'"):
    prepare_lib.prepare('image_folder/gap', data_dir=str(tmp_path / 'tfds'), manual_dir=manual)


def test_class_left_without_eval_images_by_the_seeded_split(tmp_path):
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), classes=('cat', 'dog'),
                                   per_class=4)
  for f in os.listdir(os.path.join(manual, 'cat'))[1:]:
    os.remove(os.path.join(manual, 'cat', f))  # 1 image: round(0.8 * 1) = 1 train, 0 test
  with pytest.raises(ValueError, match=r"class 'cat' has no images in split 'test'"):
    prepare_lib.prepare('image_folder/gap', data_dir=str(tmp_path / 'tfds'), manual_dir=manual)


def test_a_user_error_is_one_line_unless_the_traceback_is_asked_for(monkeypatch, capsys):
  from absl import logging  # pylint: disable=g-import-not-at-top
  from adafilter_jax.data import cli_errors  # pylint: disable=g-import-not-at-top
  error = FileNotFoundError('configs/x.py: no such file')
  monkeypatch.delenv(cli_errors.TRACEBACK_ENV, raising=False)
  assert cli_errors.report(error) == 1
  assert capsys.readouterr().err.splitlines()[0] == 'error: configs/x.py: no such file'
  monkeypatch.setenv(cli_errors.TRACEBACK_ENV, '1')
  with pytest.raises(FileNotFoundError):
    cli_errors.report(error)
  monkeypatch.delenv(cli_errors.TRACEBACK_ENV)
  before = logging.get_verbosity()
  try:
    logging.set_verbosity(1)  # absl's --verbosity=1
    with pytest.raises(FileNotFoundError):
      cli_errors.report(error)
  finally:
    logging.set_verbosity(before)
