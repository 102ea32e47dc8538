r"""Train-pipeline throughput at 224 px: python -m adafilter_jax.data.bench [--workers=1,2].

Uses 500x375 JPEGs cut from scikit-learn's sample photos (the typical size of
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

_NAME = flags.DEFINE_string('name', None, 'A prepared dataset; default synthetic JPEGs.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'data_dir of --name.')
_WORKERS = flags.DEFINE_list('workers', ['0', '1', '2'], 'Worker counts to time.')
_BATCH = flags.DEFINE_integer('batch', 32, 'Batch size.')
_BATCHES = flags.DEFINE_integer('batches', 30, 'Timed batches per setting.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', 224, 'Crop size.')


def _photos(root: str, n: int = 256) -> str:
  """n 500x375 JPEGs cut from scikit-learn's two bundled photos (real-photo entropy)."""
  from sklearn.datasets import load_sample_images  # pylint: disable=g-import-not-at-top
  photos = load_sample_images().images  # two 427x640 RGB photos
  rng = np.random.default_rng(0)
  for i in range(n):
    photo = photos[i % 2]
    h, w = photo.shape[:2]
    ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    img = Image.fromarray(photo[top:top + ch, left:left + cw]).resize((500, 375), Image.BICUBIC)
    path = os.path.join(root, f'class{i % 8}', f'{i:04d}.jpg')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, quality=90)
  return root


def main(argv):
  del argv
  cfg = config_lib.get_data_config()
  cfg.image_size = _IMAGE_SIZE.value
  tmp = tempfile.mkdtemp(prefix='adafilter_bench_')
  if _NAME.value:
    cfg.name, cfg.data_dir = _NAME.value, _DATA_DIR.value
  else:
    manual = _photos(os.path.join(tmp, 'images'))
    prepare_lib.prepare('image_folder/bench', data_dir=os.path.join(tmp, 'tfds'),
                        manual_dir=manual,
                        image_folder_kwargs=dict(train_fraction=0.9))
    cfg.name, cfg.data_dir = 'image_folder/bench', os.path.join(tmp, 'tfds')
  cores = os.cpu_count()
  print(f'train pipeline, {cfg.image_size}px random-resized-crop + flip + normalise, '
        f'batch {_BATCH.value}, {cores} CPU cores, dataset {cfg.name}')
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
