"""Each builder prepares from a fake download laid out like the real one (offline)."""

import collections
import dataclasses
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

import data_fakes
from adafilter_jax.data import config as data_config
from adafilter_jax.data import downloads
from adafilter_jax.data import pipeline
from adafilter_jax.data import prepare as prepare_lib
from adafilter_jax.data.builders import caltech256
from adafilter_jax.data.builders import common

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _prepare(name, tmp_path, manual_dir, **kwargs):
  data_dir = str(tmp_path / 'tfds')
  (path,) = prepare_lib.prepare(name, data_dir=data_dir, manual_dir=str(manual_dir), **kwargs)
  return tfds.builder_from_directory(path)


def _read(builder, split):
  src = builder.as_data_source(split)
  return [src[i] for i in range(len(src))]


def _file_names(builder, split):
  return sorted(ex['file_name'].decode() for ex in _read(builder, split))


@pytest.mark.parametrize('as_tar', [False, True])
def test_caltech256_30(tmp_path, as_tar):
  manual = data_fakes.caltech256(str(tmp_path / 'manual'), per_class=52, as_tar=as_tar)
  b = _prepare('caltech256/30', tmp_path, manual)
  assert b.info.splits['train'].num_examples == 3 * 30
  assert b.info.splits['test'].num_examples == 3 * 20
  assert b.info.features['label'].names == ['ak47', 'american-flag', 'backpack']
  train = _read(b, 'train')
  assert collections.Counter(ex['label'] for ex in train) == {0: 30, 1: 30, 2: 30}
  assert all(ex['image'].ndim == 3 and ex['image'].shape[2] == 3 for ex in train)
  names = _file_names(b, 'train') + _file_names(b, 'test')
  assert len(set(names)) == len(names)  # train and test are disjoint
  assert not any('clutter' in n for n in names)
  # Labels follow the class folder.
  for ex in train:
    folder = ex['file_name'].decode().split('/')[0]
    assert data_fakes.CALTECH_CLASSES.index(folder) == ex['label']


def test_caltech256_split_is_deterministic_and_seeded(tmp_path):
  manual = data_fakes.caltech256(str(tmp_path / 'manual'), per_class=30)
  def split(run, seed):
    cfg = caltech256.Caltech256Config(name=f's{seed}', num_train=5, num_eval=20, seed=seed)
    b = caltech256.Caltech256(config=cfg, data_dir=str(tmp_path / f'run{run}'))
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    return _file_names(b, 'train'), _file_names(b, 'test')
  first = split(0, seed=0)
  assert split(1, seed=0) == first
  other = split(2, seed=1)
  assert other[0] != first[0]
  assert len(other[0]) == len(first[0]) == 15 and len(other[1]) == 60


def test_seeded_split_ignores_listing_order():
  files = {'a': [f'{i}.jpg' for i in range(10)], 'b': [f'{i}.jpg' for i in range(12)]}
  rev = {k: v[::-1] for k, v in files.items()}
  s1 = common.seeded_per_class_split(files, num_train=3, num_eval=4, seed=7)
  s2 = common.seeded_per_class_split(rev, num_train=3, num_eval=4, seed=7)
  assert s1 == s2 and len(s1[0]) == 6 and len(s1[1]) == 8
  with pytest.raises(ValueError, match='needs 15'):
    common.seeded_per_class_split(files, num_train=10, num_eval=5, seed=0)


def test_caltech256_missing_manual_file_says_what_and_where(tmp_path):
  (tmp_path / 'empty').mkdir()
  with pytest.raises(common.MissingManualFileError) as e:
    _prepare('caltech256_30', tmp_path, tmp_path / 'empty')
  msg = str(e.value)
  assert '256_ObjectCategories.tar' in msg and 'data.caltech.edu' in msg
  assert str(tmp_path / 'empty') in msg


def test_mit_indoor67(tmp_path):
  manual = data_fakes.mit_indoor67(str(tmp_path / 'manual'), train=4, test=2)
  b = _prepare('mit_indoor', tmp_path, manual)
  assert {s: v.num_examples for s, v in b.info.splits.items()} == {'train': 12, 'test': 6}
  assert b.info.features['label'].names == data_fakes.MIT_CLASSES
  for ex in _read(b, 'test'):
    assert data_fakes.MIT_CLASSES[ex['label']] == ex['file_name'].decode().split('/')[0]


def test_mit_indoor67_missing_list(tmp_path):
  manual = data_fakes.mit_indoor67(str(tmp_path / 'manual'))
  os.remove(os.path.join(manual, 'TestImages.txt'))
  with pytest.raises(common.MissingManualFileError, match='TestImages.txt'):
    _prepare('mit_indoor67', tmp_path, manual)


def test_fgvc_aircraft(tmp_path):
  manual = data_fakes.fgvc_aircraft(str(tmp_path / 'manual'), trainval=3, test=2)
  b = _prepare('fgvc_aircraft', tmp_path, manual)
  assert {s: v.num_examples for s, v in b.info.splits.items()} == {'trainval': 9, 'test': 6}
  assert b.info.features['label'].names == data_fakes.AIRCRAFT_VARIANTS
  ex = _read(b, 'test')[0]
  assert ex['image'].shape == (50 - 20, 40, 3)  # the copyright banner is cropped


def test_image_folder_split_layout(tmp_path):
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=3,
                                   splits=['train', 'test'])
  b = _prepare('image_folder/pets', tmp_path, manual)
  assert b.name == 'image_folder' and b.builder_config.name == 'pets'
  assert {s: v.num_examples for s, v in b.info.splits.items()} == {'train': 6, 'test': 6}
  assert b.info.features['label'].names == ['cat', 'dog']


def test_image_folder_class_layout_seeded(tmp_path):
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=10)
  b = _prepare('image_folder/pets', tmp_path, manual,
               image_folder_kwargs=dict(train_fraction=0.8, seed=3))
  assert {s: v.num_examples for s, v in b.info.splits.items()} == {'train': 16, 'test': 4}
  labels = collections.Counter(ex['label'] for ex in _read(b, 'train'))
  assert labels == {0: 8, 1: 8}


def test_corrupt_image_is_named_and_can_be_skipped(tmp_path, caplog):
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=4,
                                   splits=['train', 'test'])
  bad = os.path.join(manual, 'train', 'dog', 'broken.jpg')
  data_fakes.write_corrupt(bad)
  with pytest.raises(common.CorruptImageError) as e:
    _prepare('image_folder/bad', tmp_path / 'a', manual)
  assert bad in str(e.value) and '--skip_corrupt' in str(e.value)
  b = _prepare('image_folder/bad', tmp_path / 'b', manual, skip_corrupt=True)
  assert b.info.splits['train'].num_examples == 8
  assert 'skipped 1 corrupt image' in caplog.text


def test_digits_source_and_target(tmp_path):
  data_dir = str(tmp_path / 'tfds')
  src, tgt = (tfds.builder_from_directory(p) for p in prepare_lib.prepare('digits', data_dir=data_dir))
  assert {s: v.num_examples for s, v in src.info.splits.items()} == {'train': 721, 'test': 180}
  assert {s: v.num_examples for s, v in tgt.info.splits.items()} == {'train': 50, 'test': 846}
  assert src.info.features['label'].names == ['0', '1', '2', '3', '4']
  assert tgt.info.features['label'].names == ['5', '6', '7', '8', '9']
  train = _read(tgt, 'train')
  assert collections.Counter(ex['label'] for ex in train) == {k: 10 for k in range(5)}
  img = train[0]['image']
  assert img.shape == (32, 32, 3) and img.dtype == np.uint8 and img.max() > 200
  assert np.array_equal(img[..., 0], img[..., 2])  # grey replicated
  assert not set(_file_names(src, 'train')) & set(_file_names(tgt, 'train'))


def test_catalog_builders_write_array_record(tmp_path):
  from adafilter_jax.data.builders import catalog
  b = catalog.builder('visual_domain_decathlon/aircraft', data_dir=str(tmp_path))
  assert b.info.file_format.value == 'array_record'


def _image_folder_config(name, data_dir, **kwargs):
  cfg = data_config.get_data_config()
  cfg.name, cfg.data_dir = name, data_dir
  cfg.update(kwargs)
  return cfg


def test_changed_image_folder_is_named_then_prepared_again(tmp_path, capsys):
  """An image rewritten, one removed, one added after preparing: training refuses, naming
  them and the command that prepares again; that command reads the folder as it is now."""
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=3,
                                   splits=['train', 'test'])
  data_dir = str(tmp_path / 'tfds')
  prepare_lib.prepare('image_folder/pets', data_dir=data_dir, manual_dir=manual)
  cfg = _image_folder_config('image_folder/pets', data_dir)
  pipeline._builder.cache_clear()  # a new training process
  assert pipeline.load_dataset_info(cfg).num_train == 6  # unchanged: read as prepared
  rewritten, removed, added = 'train/cat/cat_0.png', 'test/dog/dog_2.png', 'train/dog/new.png'
  data_fakes.write_image(os.path.join(manual, rewritten), size=(30, 20), fmt='PNG')
  os.remove(os.path.join(manual, removed))
  data_fakes.write_image(os.path.join(manual, added), fmt='PNG')
  pipeline._builder.cache_clear()
  with pytest.raises(ValueError) as e:
    pipeline.load_dataset_info(cfg)
  message = str(e.value)
  for what, rel in (('changed', rewritten), ('removed', removed), ('added', added)):
    assert f'{what}: {rel}' in message, message
  command = f'python -m adafilter_jax.data.prepare image_folder/pets --manual_dir {manual}'
  assert command in message
  prepare_lib.prepare('image_folder/pets', data_dir=data_dir, manual_dir=manual)
  out = capsys.readouterr().out
  assert 'preparing it again' in out and f'changed: {rewritten}' in out
  pipeline._builder.cache_clear()
  info = pipeline.load_dataset_info(cfg)
  assert (info.num_train, info.num_eval) == (7, 5)


def test_image_folder_split_names_are_the_folder_s(tmp_path):
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=2,
                                   splits=['train', 'eval'])
  data_dir = str(tmp_path / 'tfds')
  prepare_lib.prepare('image_folder/mine', data_dir=data_dir, manual_dir=manual)
  cfg = _image_folder_config('image_folder/mine', data_dir)
  with pytest.raises(ValueError, match=r"no split 'test' \(in 'test'\); it has "
                                       r"\['eval', 'train'\]: set --config\.data\.eval_split"):
    pipeline.load_dataset_info(cfg)
  cfg.eval_split = 'eval'
  assert pipeline.load_dataset_info(cfg).num_eval == 4


def test_prepare_names_the_close_matches_of_a_misspelt_dataset(tmp_path):
  """The command line a user typed: one message with the names meant, not TFDS's catalogue."""
  proc = subprocess.run(
      [sys.executable, '-m', 'adafilter_jax.data.prepare', 'digts_target',
       '--data_dir', str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert "unknown dataset 'digts_target'" in proc.stderr
  assert "did you mean 'digits_target'" in proc.stderr
  assert 'Traceback' not in proc.stderr and 'abstract_reasoning' not in proc.stderr
  assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr


def _tree(root):
  """{relative path: bytes} of every file under `root` (the folder as it is on disk)."""
  out = {}
  for d, _, files in os.walk(root):
    for f in files:
      with open(os.path.join(d, f), 'rb') as fh:
        out[os.path.relpath(os.path.join(d, f), root)] = fh.read()
  return out


def test_image_folder_with_a_new_class_is_prepared_again_in_one_run(tmp_path):
  """A class folder added after preparing: the docs' command (no --manual_dir: the folder
  it was prepared from) prepares the folder as it is now, in one run."""
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=3,
                                   splits=['train', 'test'])
  data_dir = str(tmp_path / 'tfds')
  prepare_lib.prepare('image_folder/pets', data_dir=data_dir, manual_dir=manual)
  data_fakes.image_folder(manual, classes=('cow',), per_class=2, splits=['train', 'test'])
  (path,) = prepare_lib.prepare('image_folder/pets', data_dir=data_dir)
  b = tfds.builder_from_directory(path)
  assert b.info.features['label'].names == ['cat', 'cow', 'dog']
  on_disk = sorted(os.path.join(c, f) for c in os.listdir(os.path.join(manual, 'train'))
                   for f in os.listdir(os.path.join(manual, 'train', c)))
  assert _file_names(b, 'train') == [os.path.join('train', p) for p in on_disk]
  from adafilter_jax.data.builders import image_folder
  assert image_folder.changes_since_prepared(path) == (image_folder.read_record(path), [])
  assert sorted(os.listdir(data_dir)) == ['downloads', 'image_folder']  # no staging left


def test_image_folder_failing_to_prepare_again_keeps_the_prepared_copy(tmp_path):
  """Preparing again fails (a new class without test images): the prepared files and
  their record are as they were, byte for byte, and nothing is left beside them."""
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=3,
                                   splits=['train', 'test'])
  data_dir = str(tmp_path / 'tfds')
  prepare_lib.prepare('image_folder/pets', data_dir=data_dir, manual_dir=manual)
  before = _tree(data_dir)
  data_fakes.image_folder(os.path.join(manual, 'train'), classes=('cow',), per_class=2)
  with pytest.raises(ValueError, match="class 'cow' has no images in split 'test'"):
    prepare_lib.prepare('image_folder/pets', data_dir=data_dir, manual_dir=manual)
  assert _tree(data_dir) == before


def _paths(root):
  """Every file and folder under `root`, relative to it."""
  return {os.path.relpath(os.path.join(d, n), root)
          for d, dirs, files in os.walk(root) for n in dirs + files}


def test_failed_prepare_removes_what_it_created_and_only_that(tmp_path, monkeypatch):
  """A preparation that stops (a class missing from a split; a download cut off) leaves
  neither an empty dataset folder nor TFDS's partial `*.tar.tmp.*` download; what was in
  the data_dir before, a stale partial download included, stays."""
  from tensorflow_datasets.core.download import downloader
  data_dir = tmp_path / 'tfds'
  stale = data_dir / 'downloads' / 'caltech256' / 'old.tar.tmp.0123'
  stale.mkdir(parents=True)
  (stale / 'part').write_bytes(b'x')
  (data_dir / 'digits').mkdir()
  before = _paths(data_dir)
  manual = data_fakes.image_folder(str(tmp_path / 'manual'), per_class=2, splits=['train'])
  with pytest.raises(ValueError, match="no images in split 'test'"):
    data_fakes.image_folder(os.path.join(manual, 'test'), classes=('cat',), per_class=2)
    prepare_lib.prepare('image_folder/pets', data_dir=str(data_dir), manual_dir=manual)
  assert _paths(data_dir) == before

  def cut_off(self, url, destination_path, verify=True):
    raise ConnectionError(f'{url}: connection reset')
  monkeypatch.setattr(downloader._Downloader, '_sync_download', cut_off)
  with pytest.raises(ConnectionError, match='connection reset'):
    prepare_lib.prepare('caltech256/30', data_dir=str(data_dir),
                        manual_dir=str(tmp_path / 'manual'), allow_download=True)
  assert _paths(data_dir) == before
  fresh = tmp_path / 'fresh'
  with pytest.raises(ConnectionError):
    prepare_lib.prepare('caltech256/30', data_dir=str(fresh), allow_download=True)
  assert not fresh.exists()


@pytest.mark.parametrize('name, named', [('caltech256/30', '256_ObjectCategories.tar'),
                                         ('mit_indoor67', 'TestImages.txt'),
                                         ('image_folder/pets', 'image_folder/pets'),
                                         ('imagenet2012', 'ILSVRC2012_img_val.tar')])
def test_missing_by_hand_file_stops_before_tfds_starts(tmp_path, capsys, name, named):
  """The files a person downloads are looked for before TFDS announces a dataset of
  'Unknown size': the one message names what is missing and where it goes."""
  manual = str(tmp_path / 'manual')
  if name == 'mit_indoor67':
    data_fakes.mit_indoor67(manual)
    os.remove(os.path.join(manual, named))
  elif name in ('caltech256/30', 'imagenet2012'):
    os.makedirs(manual)
  with pytest.raises(common.MissingManualFileError) as e:
    prepare_lib.prepare(name, data_dir=str(tmp_path / 'tfds'), manual_dir=manual)
  assert manual in str(e.value) and named in str(e.value)
  assert 'Downloading and preparing' not in capsys.readouterr().out
  assert not (tmp_path / 'tfds').exists()


def test_a_download_whose_server_cannot_be_reached_names_its_files_at_once(tmp_path,
                                                                           monkeypatch):
  """A dataset TFDS downloads itself (stanford_dogs), offline: within seconds, each file
  not in --manual_dir with its URL and where to put it, not TFDS's retries for minutes."""
  with socket.socket() as closed, socket.socket() as listening:
    closed.bind(('127.0.0.1', 0))  # bound, not listening: a connection is refused
    listening.bind(('127.0.0.1', 0))
    listening.listen()
    down, up = (f'http://127.0.0.1:{s.getsockname()[1]}' for s in (closed, listening))
    registered = downloads.source('stanford_dogs')
    assert registered.kind == downloads.DOWNLOAD and len(registered.files) == 3
    # Its registered files, on a loopback server that refuses: no network asked.
    files = tuple(dataclasses.replace(f, url=f'{down}/{f.name}') for f in registered.files)
    monkeypatch.setattr(downloads, 'source', lambda name: downloads.Source(
        downloads.DOWNLOAD, files))
    manual = tmp_path / 'manual'
    manual.mkdir()
    (manual / files[0].name).write_bytes(b'')  # one of the three is in place
    start = time.monotonic()
    with pytest.raises(common.MissingManualFileError) as e:
      prepare_lib.prepare('stanford_dogs', data_dir=str(tmp_path / 'tfds'),
                          manual_dir=str(manual))
    assert time.monotonic() - start < 20
    message = str(e.value)
    assert f'cannot reach {down[len("http://"):]}' in message, message
    for f in files[1:]:
      assert downloads.describe(f, str(manual)) in message  # URL, size, SHA-256, where
    assert files[0].url not in message
    assert not (tmp_path / 'tfds').exists()
    # The probe itself: a server that accepts is reachable.
    assert downloads.unreachable([dataclasses.replace(files[1], url=f'{up}/x')]) == {}
