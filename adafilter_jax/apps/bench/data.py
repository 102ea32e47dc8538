r"""Train-pipeline throughput at 224 px: python -m adafilter_jax.apps.bench.data [--workers=1,2].

First times the per-image train transform with reduced-scale JPEG decoding on and off
(`transforms.train_image(..., fast_decode=)`), interleaved in one process so machine
load hits both alike (--decode_reps rounds; 0 skips it), then the whole pipeline.

Uses 500x375 (--photo_size) JPEGs cut from scikit-learn's sample photos (the typical size of
Caltech-256 / Stanford Dogs images)
prepared as an image_folder dataset in a temporary data_dir, or --name/--data_dir for a
prepared dataset. Worker start-up is excluded: timing starts after the warm-up batches.
"""

from __future__ import annotations

import os
import tempfile
import time

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from adafilter_jax.data import config as config_lib
from adafilter_jax.data import pipeline
from adafilter_jax.data import prepare as prepare_lib
from adafilter_jax.data import transforms

_NAME = flags.DEFINE_string('name', None, 'A prepared dataset; default synthetic JPEGs.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'data_dir of --name.')
_WORKERS = flags.DEFINE_list('workers', ['0', '1', '2'], 'Worker counts to time.')
_BATCH = flags.DEFINE_integer('batch', 32, 'Batch size.')
_BATCHES = flags.DEFINE_integer('batches', 30, 'Timed batches per setting.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', 224, 'Crop size.')
_PHOTO_SIZE = flags.DEFINE_string('photo_size', '500x375', 'WxH of the synthetic JPEGs.')
_DECODE_REPS = flags.DEFINE_integer(
    'decode_reps', 10, 'Interleaved rounds of the fast_decode on/off comparison (0: skip).')


def _photos(root: str, n: int = 256, size=(500, 375)) -> str:
  """n JPEGs of `size` cut from scikit-learn's two bundled photos (real-photo entropy)."""
  from sklearn.datasets import load_sample_images  # pylint: disable=g-import-not-at-top
  photos = load_sample_images().images  # two 427x640 RGB photos
  rng = np.random.default_rng(0)
  for i in range(n):
    photo = photos[i % 2]
    h, w = photo.shape[:2]
    ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    img = Image.fromarray(photo[top:top + ch, left:left + cw]).resize(size, Image.BICUBIC)
    path = os.path.join(root, f'class{i % 8}', f'{i:04d}.jpg')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, quality=90)
  return root


def _compare_decode(cfg, reps: int, n: int = 64):
  """ms/image of transforms.train_image with fast_decode off/on, rounds interleaved."""
  source = pipeline.data_source(cfg, pipeline.splits(cfg)[0])
  blobs = [source[i]['image'] for i in range(min(n, len(source)))]
  reduced = 0
  for i, b in enumerate(blobs):
    img = transforms.open_image(b)
    box = transforms.random_crop_box(*img.size, np.random.default_rng([0, 0, i]))
    size = img.size
    reduced += transforms._draft(img, box, cfg.image_size)[0].size != size
  times = {False: [], True: []}
  for r in range(reps):
    for fast in ((False, True) if r % 2 else (True, False)):
      t = time.perf_counter()
      for i, b in enumerate(blobs):
        transforms.train_image(b, cfg.image_size, np.random.default_rng([0, 0, i]), fast)
      times[fast].append((time.perf_counter() - t) / len(blobs) * 1e3)
  off, on = np.median(times[False]), np.median(times[True])
  ratio = np.median(np.asarray(times[False]) / np.asarray(times[True]))
  print(f'train transform, 1 thread, {len(blobs)} images x {reps} interleaved rounds: '
        f'fast_decode off {off:.2f} ms, on {on:.2f} ms per image (medians); '
        f'off/on ratio {ratio:.2f}; reduced decode used for {reduced}/{len(blobs)} crops')


def main(argv):
  del argv
  cfg = config_lib.get_data_config()
  cfg.image_size = _IMAGE_SIZE.value
  tmp = tempfile.mkdtemp(prefix='adafilter_bench_')
  if _NAME.value:
    cfg.name, cfg.data_dir = _NAME.value, _DATA_DIR.value
  else:
    manual = _photos(os.path.join(tmp, 'images'),
                     size=tuple(int(x) for x in _PHOTO_SIZE.value.split('x')))
    prepare_lib.prepare('image_folder/bench', data_dir=os.path.join(tmp, 'tfds'),
                        manual_dir=manual,
                        image_folder_kwargs=dict(train_fraction=0.9))
    cfg.name, cfg.data_dir = 'image_folder/bench', os.path.join(tmp, 'tfds')
  cores = os.cpu_count()
  print(f'train pipeline, {cfg.image_size}px random-resized-crop + flip, uint8 batches, '
        f'batch {_BATCH.value}, {cores} CPU cores, dataset {cfg.name}'
        + ('' if _NAME.value else f' ({_PHOTO_SIZE.value} JPEGs)'))
  if _DECODE_REPS.value:
    _compare_decode(cfg, _DECODE_REPS.value)
  for w in (int(x) for x in _WORKERS.value):
    cfg.num_workers = w
    it = pipeline.make_train_iter(cfg, global_batch_size=_BATCH.value, seed=0,
                                  process_index=0, process_count=1)
    for _ in range(max(3, 2 * w)):
      next(it)
    t = time.perf_counter()
    for _ in range(_BATCHES.value):
      next(it)
    rate = _BATCHES.value * _BATCH.value / (time.perf_counter() - t)
    # Every setting keeps all cores busy (2 decode threads in-process, or workers plus
    # the trainer's process), so per core is the rate over the machine's cores.
    print(f'num_workers={w}: {rate:7.1f} images/s  ({rate / cores:6.1f} per core)')
    if hasattr(it, 'close'):
      it.close()


if __name__ == '__main__':
  app.run(main)
