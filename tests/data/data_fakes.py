"""Tiny fake datasets laid out exactly like the real downloads (generated, offline)."""

import os
import tarfile
import zlib

import numpy as np
from PIL import Image


def write_image(path, size=(12, 10), color=None, fmt='JPEG', mode='RGB'):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  rng = np.random.default_rng(zlib.crc32(path.encode()))
  c = color if color is not None else rng.integers(0, 256, 3)
  arr = np.broadcast_to(np.asarray(c, np.uint8), (size[1], size[0], 3)).copy()
  img = Image.fromarray(arr)
  if mode != 'RGB':
    img = img.convert(mode)
  img.save(path, format=fmt)


def write_corrupt(path):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(b'\xff\xd8\xff\xe0 this is not really a jpeg')


CALTECH_CLASSES = ['001.ak47', '002.american-flag', '003.backpack']


def caltech256(root, per_class=52, as_tar=False):
  """root/256_ObjectCategories/<NNN.name>/<NNN_MMMM.jpg> (+ 257.clutter), or the .tar."""
  base = os.path.join(root, 'src' if as_tar else '', '256_ObjectCategories')
  for folder in CALTECH_CLASSES + ['257.clutter']:
    n = folder.split('.')[0]
    for i in range(1, per_class + 1):
      # A grey image among them, as in the real archive.
      write_image(os.path.join(base, folder, f'{n}_{i:04d}.jpg'), mode='L' if i == 1 else 'RGB')
  # The real archive has a stray non-image file in one folder.
  with open(os.path.join(base, CALTECH_CLASSES[0], 'RENAME2'), 'w') as f:
    f.write('x')
  if as_tar:
    with tarfile.open(os.path.join(root, '256_ObjectCategories.tar'), 'w') as t:
      t.add(base, arcname='256_ObjectCategories')
  return root


MIT_CLASSES = ['airport_inside', 'bakery', 'kitchen']


def mit_indoor67(root, train=4, test=2):
  lines = {'TrainImages.txt': [], 'TestImages.txt': []}
  for c in MIT_CLASSES:
    for i in range(train + test):
      rel = f'{c}/{c}_{i:04d}.jpg'
      write_image(os.path.join(root, 'Images', rel), fmt='GIF' if i == 0 else 'JPEG')
      lines['TrainImages.txt' if i < train else 'TestImages.txt'].append(rel)
  for name, ls in lines.items():
    with open(os.path.join(root, name), 'w') as f:
      f.write('\r\n'.join(ls) + '\r\n')  # the official lists have Windows line ends
  return root


AIRCRAFT_VARIANTS = ['707-320', 'A300B4', 'F-16A/B']


def fgvc_aircraft(root, trainval=3, test=2):
  data = os.path.join(root, 'fgvc-aircraft-2013b', 'data')
  with open(os.path.join(_mk(data), 'variants.txt'), 'w') as f:
    f.write('\n'.join(AIRCRAFT_VARIANTS) + '\n')
  image_id = 1000000
  rows = {'trainval': [], 'test': []}
  for v in AIRCRAFT_VARIANTS:
    for i in range(trainval + test):
      image_id += 1
      write_image(os.path.join(data, 'images', f'{image_id:07d}.jpg'), size=(40, 50))
      rows['trainval' if i < trainval else 'test'].append(f'{image_id:07d} {v}')
  for s, rs in rows.items():
    with open(os.path.join(data, f'images_variant_{s}.txt'), 'w') as f:
      f.write('\n'.join(rs) + '\n')
  return root


def image_folder(root, classes=('cat', 'dog'), per_class=5, splits=None, size=(12, 10)):
  for s in splits or ['']:
    for ci, c in enumerate(classes):
      for i in range(per_class):
        write_image(os.path.join(root, s, c, f'{c}_{i}.png'), size=size, fmt='PNG',
                    color=(ci * 40, i * 20, 100))
  return root


def _mk(path):
  os.makedirs(path, exist_ok=True)
  return path
