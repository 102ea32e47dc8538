"""grain input pipeline over TFDS ArrayRecord data sources (no TensorFlow).

Determinism: every example's place and augmentation come from (seed, epoch, position
in the global epoch order) alone, so a run is reproducible for a seed whatever the
number of workers or hosts, and resuming at epoch e reproduces exactly what an
uninterrupted run would have fed from epoch e on.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from typing import Iterator

from absl import logging
import grain
import jax
import numpy as np
import tensorflow_datasets as tfds

from adafilter_jax.data import datasets
from adafilter_jax.data import logs
from adafilter_jax.data import sampling
from adafilter_jax.data import transforms
from adafilter_jax.data import validation


class DatasetNotPreparedError(FileNotFoundError):
  pass


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  num_classes: int
  class_names: tuple[str, ...]
  num_train: int
  num_eval: int


# ----------------------------------------------------------------------------- locating


def resolve_data_dir(data_cfg) -> str:
  return os.path.expanduser(
      data_cfg.data_dir or os.environ.get('TFDS_DATA_DIR') or '~/tensorflow_datasets')


def splits(data_cfg) -> tuple[str, str]:
  """(train, eval) split names; a registry key brings its own (e.g. Decathlon 'validation')."""
  spec = datasets.DATASETS.get(data_cfg.name)
  if spec is not None:
    return spec.train_split, spec.eval_split
  return data_cfg.train_split, data_cfg.eval_split


def config_for_split(config, split):
  """(a copy of `config` whose eval iterator reads `split`, its name); None: the eval split.

  A registry key fixes its own splits, so another split names the TFDS dataset and both
  splits explicitly."""
  c = config.copy_and_resolve_references()
  train_split, eval_split = splits(c.data)
  if split is None or split == eval_split:
    return c, eval_split
  with c.unlocked():
    c.data.train_split = train_split
    c.data.name = datasets.tfds_name(c.data.name)
    c.data.eval_split = split
  return c, split


def prepared_path(name: str, data_dir: str) -> str | None:
  """The newest prepared version directory of `name` under data_dir, if any."""
  root = os.path.join(data_dir, *name.split('/'))
  if not os.path.isdir(root):
    return None
  versions = [v for v in os.listdir(root)
              if os.path.exists(os.path.join(root, v, 'dataset_info.json'))]
  if not versions:
    return None
  best = max(versions, key=lambda v: tuple(int(x) for x in v.split('.') if x.isdigit()))
  return os.path.join(root, best)


def prepare_command(name: str, data_dir: str, manual_dir: str | None = None) -> str:
  return (f'python -m adafilter_jax.data.prepare {name} '
          f'--manual_dir {manual_dir or "<DIR with the downloaded files>"} --data_dir {data_dir}')


@functools.lru_cache(maxsize=None)
def _builder(name: str, data_dir: str, manual_dir: str | None,
             skip_corrupt: bool) -> tfds.core.DatasetBuilder:
  path = prepared_path(name, data_dir)
  if path is None and name.split('/')[0] in datasets.AUTO_PREPARE:
    from adafilter_jax.data import prepare  # pylint: disable=g-import-not-at-top
    logging.info('Preparing %s in %s (first use, no download needed).', name, data_dir)
    prepare.prepare(name, data_dir=data_dir, skip_corrupt=skip_corrupt)
    path = prepared_path(name, data_dir)
  if path is None:
    datasets.check_name(name, 'config.data.name')  # a misspelt name: not "prepare it"
    raise DatasetNotPreparedError(
        f'Dataset {name!r} is not prepared under data_dir {data_dir}. Prepare it once with:\n'
        f'  {prepare_command(name, data_dir, manual_dir)}\n'
        'See docs/data.md for where to download the files.')
  if name.split('/')[0] == 'image_folder':
    _check_image_folder(name, path, data_dir)
  # Reading from the directory needs neither the builder's code nor TensorFlow.
  return tfds.builder_from_directory(path)


def _check_image_folder(name: str, path: str, data_dir: str):
  """A user's folder changed since it was prepared: its prepared splits are stale."""
  from adafilter_jax.data.builders import image_folder  # pylint: disable=g-import-not-at-top
  record, changes = image_folder.changes_since_prepared(path)
  if changes:
    raise ValueError(
        f'{name} in {data_dir} was prepared from {record["root"]}, which changed since '
        f'({image_folder.describe(changes)}): its prepared splits are stale. Prepare it '
        f'again:\n  {prepare_command(name, data_dir, record["root"])}'
        f'{image_folder.split_flags(record)}')


def get_builder(data_cfg) -> tfds.core.DatasetBuilder:
  if not data_cfg.name:
    raise ValueError('config.data.name is empty: set it to a dataset, e.g. "digits/target".')
  return _builder(datasets.tfds_name(data_cfg.name), resolve_data_dir(data_cfg),
                  data_cfg.manual_dir, bool(data_cfg.skip_corrupt))


def _check_split(builder: tfds.core.DatasetBuilder, split: str, what: str = ''):
  """`split` is a prepared split, or several joined by '+' (TFDS's split syntax, e.g.
  'train+validation', read as one concatenated source; each may carry a [slice]).
  `what`: the config field it comes from, named in the error with its fix."""
  parts = [part.split('[')[0].strip() for part in split.split('+')]
  missing = [part for part in parts if part not in builder.info.splits]
  if missing:
    fix = (f': set --{what} to one of them' if what.startswith('config.') else
           f' ({what})' if what else '')
    raise ValueError(f'{builder.name}: no split {missing[0]!r} (in {split!r}); it has '
                     f'{sorted(builder.info.splits)}{fix}.')


def check_split(data_cfg, split: str, what: str):
  """Raises unless `split` is a prepared split of the dataset (or the held-out part of
  its train split), naming `what` asked for it."""
  if split != validation.HELDOUT:
    _check_split(get_builder(data_cfg), split, what)
  elif not data_cfg.get('val_fraction'):
    raise ValueError(f"{what} {split!r}: the run held no images out of its train split "
                     '(config.data.val_fraction=0).')


def data_source(data_cfg, split: str):
  """The data source of `split`; the train split at config.data.sample_rate (data/
  sampling.py); with config.data.val_fraction that is the part left to train on and
  validation.HELDOUT the part held out of it."""
  builder = get_builder(data_cfg)
  train_split = splits(data_cfg)[0]
  base = train_split if split == validation.HELDOUT else split
  _check_split(builder, base)
  # Raw bytes of every image feature: decoding 'image' in our transform lets libjpeg
  # shrink while decoding; the others (CUBS's image-sized segmentation masks) are unused.
  decoders = {name: tfds.decode.SkipDecoding() for name, feature
              in builder.info.features.items() if isinstance(feature, tfds.features.Image)}
  source = builder.as_data_source(base, decoders=decoders)
  if base != train_split:
    return source
  source = sampling.sample(source, data_cfg, (builder.data_dir, base))
  if not data_cfg.get('val_fraction'):
    return source
  key = (builder.data_dir, base, *sampling.settings(data_cfg))  # held out of the sample
  return validation.part(source, data_cfg, key, split == validation.HELDOUT)


def load_dataset_info(data_cfg) -> DatasetInfo:
  builder = get_builder(data_cfg)
  train, evaluation = splits(data_cfg)
  spec = datasets.DATASETS.get(data_cfg.name)
  for role, s in (('train', train), ('eval', evaluation)):
    if s != validation.HELDOUT:  # the held-out part of the train split (evaluate --split)
      _check_split(builder, s, f'config.data.{role}_split' if spec is None else
                   f'the {role} split of {data_cfg.name!r} in adafilter_jax/data/datasets.py')
  names = tuple(builder.info.features['label'].names)
  validation.check_fraction(data_cfg.get('val_fraction', 0.0))
  sampling.check_rate(data_cfg.get('sample_rate', 1.0))
  return DatasetInfo(num_classes=len(names), class_names=names,
                     num_train=len(data_source(data_cfg, train)),
                     num_eval=(len(data_source(data_cfg, evaluation))
                               if evaluation == validation.HELDOUT else
                               builder.info.splits[evaluation].num_examples))


def prepared_record(data_cfg) -> dict:
  """What a run records of the data it trains on (its checkpoints' `meta['data']`): each
  prepared split's image count, and a fingerprint of those counts, the splits' sizes in
  bytes and the class names, which preparing the dataset again from other files changes."""
  info = get_builder(data_cfg).info
  content = [[s, v.num_examples, v.num_bytes] for s, v in sorted(info.splits.items())]
  content.append(list(info.features['label'].names))
  return {'splits': {s: v.num_examples for s, v in sorted(info.splits.items())},
          'fingerprint': hashlib.sha256(json.dumps(content).encode()).hexdigest()[:16]}


def data_change(saved: dict | None, now: dict) -> str | None:
  """How the prepared data differs from a run's record of it ('test 12 -> 13 images'),
  None if it does not, or the run has no record."""
  if not saved or saved['fingerprint'] == now['fingerprint']:
    return None
  old, new = saved['splits'], now['splits']
  counts = [f'{s} {old.get(s, 0)} -> {new.get(s, 0)}' for s in sorted({*old, *new})
            if old.get(s) != new.get(s)]
  return ', '.join(counts) + ' images' if counts else 'other images or classes, as many'


# ----------------------------------------------------------------------------- train


def steps_per_epoch(num_train: int, global_batch_size: int) -> int:
  return num_train // global_batch_size


def local_batch(global_batch_size: int, process_count: int) -> int:
  if global_batch_size % process_count:
    raise ValueError(f'global_batch_size {global_batch_size} is not divisible by '
                     f'process_count {process_count}.')
  return global_batch_size // process_count


class _TrainOrder:
  """position -> (record, augmentation seed) of this host's examples, epoch after epoch.

  Each epoch is one seeded permutation of the whole split; global batch b takes
  positions [b*G, (b+1)*G) and host p the p-th slice of it (remainder dropped). The
  order starts at batch `step_start` of epoch `epoch_start`.
  """

  def __init__(self, n, seed, global_bs, local_bs, process_index, epoch_start, num_epochs,
               step_start=0):
    self.n, self.seed, self.global_bs, self.local_bs = n, seed, global_bs, local_bs
    self.process_index, self.epoch_start = process_index, epoch_start
    self.per_epoch = steps_per_epoch(n, global_bs) * local_bs
    self.num_epochs, self.skip = num_epochs, step_start * local_bs

  def __len__(self):
    return max(self.per_epoch * self.num_epochs - self.skip, 0)

  @functools.lru_cache(maxsize=2)
  def _perm(self, epoch):
    return np.random.default_rng([self.seed, epoch]).permutation(self.n)

  def __getitem__(self, i):
    e, r = divmod(int(i) + self.skip, self.per_epoch)
    epoch = self.epoch_start + e
    step, j = divmod(r, self.local_bs)
    pos = step * self.global_bs + self.process_index * self.local_bs + j
    return int(self._perm(epoch)[pos]), (self.seed, epoch, pos)


@dataclasses.dataclass
class _Train:
  source: object
  image_size: int
  crop_scale: tuple
  flip: bool

  def __call__(self, item):
    record, rng_key = item
    ex = self.source[record]
    image = transforms.train_image(ex['image'], self.image_size, np.random.default_rng(rng_key),
                                   scale=self.crop_scale, flip=self.flip)
    return {'image': image, 'label': np.int32(ex['label'])}


def to_iter(ds: grain.MapDataset, data_cfg) -> grain.IterDataset:
  """Batches stay uint8 (normalised on the device, `train.steps.normalize`)."""
  if data_cfg.num_workers <= 0:
    return ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=2))
  logs.ensure_flags_parsed()  # grain's worker processes read absl flags
  # Read threads fill the cores the workers leave idle; more threads than that only fight
  # over each worker's GIL (2 cores, 2 workers: 1 thread each is ~15 % faster than 2).
  threads = max(1, (os.cpu_count() or 1) // data_cfg.num_workers)
  return ds.to_iter_dataset(
      grain.ReadOptions(num_threads=threads, prefetch_buffer_size=max(2, threads))
  ).mp_prefetch(grain.MultiprocessingOptions(
      num_workers=data_cfg.num_workers, per_worker_buffer_size=data_cfg.prefetch_batches))


def make_train_iter(data_cfg, *, global_batch_size: int, seed: int, epoch_start: int = 0,
                    num_epochs: int | None = None, process_index: int | None = None,
                    process_count: int | None = None,
                    step_start: int = 0) -> Iterator[dict[str, np.ndarray]]:
  """Host-local train batches {'image': u8 [B,H,W,3], 'label': i32 [B]}, epoch after epoch.

  Yields steps_per_epoch batches per epoch from `epoch_start` for `num_epochs` epochs
  (None: without end), the first epoch from its batch `step_start` (a mid-epoch resume;
  the batches before it are not read). Drops the remainder of each epoch.
  """
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  local_bs = local_batch(global_batch_size, process_count)
  train_split, _ = splits(data_cfg)
  source = data_source(data_cfg, train_split)
  n = len(source)
  if steps_per_epoch(n, global_batch_size) == 0:
    raise ValueError(f'{n} training examples < global batch {global_batch_size}.')
  order = _TrainOrder(n, seed, global_batch_size, local_bs, process_index, epoch_start,
                      num_epochs if num_epochs is not None else 1_000_000, step_start)
  ds = (grain.MapDataset.source(order)
        .map(_Train(source, data_cfg.image_size, tuple(data_cfg.crop_scale), data_cfg.flip))
        .batch(local_bs, drop_remainder=True))
  return iter(to_iter(ds, data_cfg))


# ----------------------------------------------------------------------------- eval


class _EvalOrder:
  """position -> example index (or -1 for padding); batches padded to the global size."""

  def __init__(self, n, global_bs, local_bs, process_index):
    self.n, self.global_bs, self.local_bs = n, global_bs, local_bs
    self.process_index = process_index
    self.num_batches = -(-n // global_bs)

  def __len__(self):
    return self.num_batches * self.local_bs

  def __getitem__(self, i):
    step, j = divmod(int(i), self.local_bs)
    pos = step * self.global_bs + self.process_index * self.local_bs + j
    return pos if pos < self.n else -1


@dataclasses.dataclass
class _Eval:
  source: object
  image_size: int
  resize_size: int

  def __call__(self, index):
    if index < 0:
      image = np.zeros((self.image_size, self.image_size, 3), np.uint8)
      return {'image': image, 'label': np.int32(0), 'mask': np.bool_(False),
              'index': np.int32(-1)}
    ex = self.source[index]
    image = transforms.eval_image(ex['image'], self.image_size, self.resize_size)
    return {'image': image, 'label': np.int32(ex['label']), 'mask': np.bool_(True),
            'index': np.int32(index)}


def num_eval_batches(num_eval: int, global_batch_size: int) -> int:
  return -(-num_eval // global_batch_size)


def make_eval_iter(data_cfg, *, global_batch_size: int, process_index: int | None = None,
                   process_count: int | None = None,
                   split: str | None = None) -> Iterator[dict[str, np.ndarray]]:
  """One pass over the eval split (or `split`), transformed for evaluation:
  {'image' u8, 'label', 'mask' bool, 'index' i32} per batch.

  Every host yields num_eval_batches() batches of global_batch_size/process_count;
  padding has mask False and index -1, so summing over mask counts each image once.
  """
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  local_bs = local_batch(global_batch_size, process_count)
  _, eval_split = splits(data_cfg)
  source = data_source(data_cfg, eval_split if split is None else split)
  order = _EvalOrder(len(source), global_batch_size, local_bs, process_index)
  ds = (grain.MapDataset.source(order)
        .map(_Eval(source, data_cfg.image_size, data_cfg.resize_size))
        .batch(local_bs, drop_remainder=True))
  return iter(to_iter(ds, data_cfg))


def get_eval_example(data_cfg, index: int, *, crop: bool = True) -> dict:
  """The eval image `index` (as in batch['index']), uint8 as the model's batch has it.

  crop=True gives exactly what the model saw (resize + centre crop); False the stored image.
  """
  _, eval_split = splits(data_cfg)
  ex = data_source(data_cfg, eval_split)[int(index)]
  if crop:
    image = transforms.eval_image(ex['image'], data_cfg.image_size, data_cfg.resize_size)
  else:
    image = np.asarray(transforms.open_image(ex['image']).convert('RGB'))
  name = ex.get('file_name', ex.get('name', b''))
  return {'image': image, 'label': int(ex['label']),
          'file_name': name.decode() if isinstance(name, bytes) else str(name)}


def get_eval_image(data_cfg, index: int, *, crop: bool = True) -> np.ndarray:
  return get_eval_example(data_cfg, index, crop=crop)['image']

