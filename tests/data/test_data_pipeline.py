"""The grain pipeline: shapes, normalisation, determinism, resumption, exact eval coverage."""

import collections

import numpy as np
import pytest

import data_fakes
from adafilter_jax.data import config as config_lib
from adafilter_jax.data import pipeline
from adafilter_jax.data import prepare as prepare_lib
from adafilter_jax.train import steps


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
  root = tmp_path_factory.mktemp('pipe')
  manual = data_fakes.image_folder(str(root / 'manual'), classes=('a', 'b', 'c'), per_class=7,
                                   splits=['train', 'test'], size=(48, 40))
  prepare_lib.prepare('image_folder/toy', data_dir=str(root / 'tfds'), manual_dir=manual)
  c = config_lib.get_data_config()
  c.name = 'image_folder/toy'
  c.data_dir = str(root / 'tfds')
  c.image_size, c.resize_size = 32, 36
  return c


def _take(it, n):
  return [next(it) for _ in range(n)]


def test_info(cfg):
  info = pipeline.load_dataset_info(cfg)
  assert info == pipeline.DatasetInfo(3, ('a', 'b', 'c'), 21, 21)
  assert pipeline.steps_per_epoch(21, 8) == 2


def test_train_batches_shape_and_normalisation(cfg):
  it = pipeline.make_train_iter(cfg, global_batch_size=8, seed=0, num_epochs=1,
                                process_index=0, process_count=1)
  batches = list(it)
  assert len(batches) == 2
  b = batches[0]
  assert b['image'].shape == (8, 32, 32, 3) and b['image'].dtype == np.uint8
  assert b['label'].shape == (8,) and b['label'].dtype == np.int32
  # Fake images are flat colours (class*40, i*20, 100): the blue channel is 100 everywhere.
  np.testing.assert_array_equal(b['image'][..., 2], 100)
  # The train step normalises on the device.
  x = np.asarray(steps.normalize(b['image'], cfg))
  assert x.dtype == np.float32
  np.testing.assert_allclose(x[..., 2], (100 / 255 - cfg.mean[2]) / cfg.std[2], rtol=1e-6)
  red = np.asarray(b['image'][..., 0], np.float64)
  np.testing.assert_allclose(x[..., 0], (red / 255 - cfg.mean[0]) / cfg.std[0], rtol=1e-5)


def test_train_at_224(cfg):
  c = cfg.copy_and_resolve_references()
  c.image_size, c.resize_size = 224, 256
  b = next(pipeline.make_train_iter(c, global_batch_size=4, seed=0, process_index=0,
                                    process_count=1))
  assert b['image'].shape == (4, 224, 224, 3)
  e = next(pipeline.make_eval_iter(c, global_batch_size=4, process_index=0, process_count=1))
  assert e['image'].shape == (4, 224, 224, 3)


def test_train_deterministic_seeded_and_resumable(cfg):
  kw = dict(global_batch_size=4, process_index=0, process_count=1)
  run = list(pipeline.make_train_iter(cfg, seed=1, num_epochs=3, **kw))
  assert len(run) == 3 * 5
  again = list(pipeline.make_train_iter(cfg, seed=1, num_epochs=3, **kw))
  for a, b in zip(run, again):
    np.testing.assert_array_equal(a['image'], b['image'])
  other = next(pipeline.make_train_iter(cfg, seed=2, **kw))
  assert not np.array_equal(other['image'], run[0]['image'])
  resumed = list(pipeline.make_train_iter(cfg, seed=1, epoch_start=2, num_epochs=1, **kw))
  for a, b in zip(run[10:], resumed):
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
  # Each epoch is a fresh permutation: no example twice within an epoch.
  epoch0 = np.concatenate([b['label'] for b in run[:5]])
  assert max(collections.Counter(epoch0).values()) <= 7


def test_train_resumes_mid_epoch_without_reading_the_skipped_batches(cfg, monkeypatch):
  """step_start=s: batch s of epoch_start first, as the uninterrupted order has it; the
  batches before it are not decoded (a mid-epoch resume of a large epoch would)."""
  kw = dict(global_batch_size=4, seed=1, process_index=0, process_count=1)
  run = list(pipeline.make_train_iter(cfg, num_epochs=3, **kw))
  read = []
  call = pipeline._Train.__call__
  monkeypatch.setattr(pipeline._Train, '__call__', lambda self, item: read.append(item[1]) or
                      call(self, item))
  resumed = list(pipeline.make_train_iter(cfg, epoch_start=1, step_start=3, num_epochs=2, **kw))
  assert len(resumed) == 2 * 5 - 3
  for a, b in zip(run[8:], resumed, strict=True):
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
  assert min(pos for _, epoch, pos in read if epoch == 1) == 3 * 4


def test_train_hosts_split_the_global_batch(cfg):
  single = _take(pipeline.make_train_iter(cfg, global_batch_size=6, seed=0, process_index=0,
                                          process_count=1), 3)
  hosts = [_take(pipeline.make_train_iter(cfg, global_batch_size=6, seed=0, process_index=p,
                                          process_count=2), 3) for p in range(2)]
  for step in range(3):
    assert hosts[0][step]['image'].shape[0] == 3
    joined = np.concatenate([hosts[0][step]['image'], hosts[1][step]['image']])
    np.testing.assert_array_equal(joined, single[step]['image'])


@pytest.mark.parametrize('process_count', [1, 2])
def test_eval_counts_every_example_once(cfg, process_count):
  seen = []
  lengths = set()
  for p in range(process_count):
    batches = list(pipeline.make_eval_iter(cfg, global_batch_size=8, process_index=p,
                                           process_count=process_count))
    lengths.add(len(batches))
    for b in batches:
      assert b['image'].shape == (8 // process_count, 32, 32, 3)
      assert b['mask'].dtype == np.bool_ and b['index'].dtype == np.int32
      assert (b['index'][~b['mask']] == -1).all()
      seen += b['index'][b['mask']].tolist()
  assert lengths == {pipeline.num_eval_batches(21, 8)}  # every host steps equally often
  assert sorted(seen) == list(range(21))


def test_eval_image_by_index(cfg):
  b = next(pipeline.make_eval_iter(cfg, global_batch_size=4, process_index=0, process_count=1))
  ex = pipeline.get_eval_example(cfg, int(b['index'][1]))
  assert ex['image'].dtype == np.uint8 and ex['image'].shape == (32, 32, 3)
  assert ex['label'] == b['label'][1]
  np.testing.assert_array_equal(ex['image'], b['image'][1])
  assert pipeline.get_eval_image(cfg, 0, crop=False).shape == (40, 48, 3)


def test_workers_give_the_same_batches(cfg):
  c = cfg.copy_and_resolve_references()
  c.num_workers = 2
  kw = dict(global_batch_size=4, seed=3, num_epochs=1, process_index=0, process_count=1)
  with_workers = list(pipeline.make_train_iter(c, **kw))
  in_process = list(pipeline.make_train_iter(cfg, **kw))
  assert len(with_workers) == len(in_process) == 5
  for a, b in zip(with_workers, in_process):
    np.testing.assert_array_equal(a['image'], b['image'])


def test_unprepared_dataset_says_how_to_prepare(tmp_path):
  c = config_lib.get_data_config()
  c.name = 'caltech256_30'
  c.data_dir = str(tmp_path)
  with pytest.raises(pipeline.DatasetNotPreparedError) as e:
    pipeline.load_dataset_info(c)
  msg = str(e.value)
  assert "'caltech256/30'" in msg and str(tmp_path) in msg
  assert 'python -m adafilter_jax.data.prepare caltech256/30 --manual_dir' in msg


def test_empty_name_is_rejected():
  with pytest.raises(ValueError, match='name'):
    pipeline.load_dataset_info(config_lib.get_data_config())


def test_digits_prepare_on_first_use(tmp_path):
  c = config_lib.get_data_config()
  c.name, c.data_dir, c.image_size, c.resize_size = 'digits_target', str(tmp_path), 32, 36
  info = pipeline.load_dataset_info(c)
  assert (info.num_classes, info.num_train, info.num_eval) == (5, 50, 846)
  b = next(pipeline.make_train_iter(c, global_batch_size=10, seed=0, process_index=0,
                                    process_count=1))
  assert b['image'].shape == (10, 32, 32, 3)


def test_tfds_data_dir_env(tmp_path, monkeypatch):
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))
  assert pipeline.resolve_data_dir(config_lib.get_data_config()) == str(tmp_path)
