"""Fake downloads in the layout of TFDS's own dummy_data for the catalog builders
(tensorflow_datasets/testing/test_data/fake_examples/visual_domain_decathlon and
datasets/stanford_dogs/dummy_data), written with our own images: TFDS keeps its fake
archives and .mat lists as binaries. The Decathlon's stripped test annotations (the only
text files of its fake_examples) are TFDS's, verbatim. CUB-200-2011 and Stanford Cars:
the original files in their real layout, under the names TFDS's checksums register."""
import io
import json
import os
import tarfile
from unittest import mock

import numpy as np
from PIL import Image
import scipy.io
import tensorflow_datasets as tfds

from adafilter_jax.data.builders import catalog

# tensorflow_datasets/testing/test_data/fake_examples/visual_domain_decathlon/
#   decathlon-1.0/annotations/aircraft_test_stripped.json
AIRCRAFT_TEST_STRIPPED = {
    'images': [{'id': 4, 'file_name': 'data/aircraft/4.jpg'}],
    'categories': [{'id': 1, 'name': 'label1'}, {'id': 2, 'name': 'label2'},
                   {'id': 3, 'name': 'label3'}]}
# ... decathlon-1.0/annotations/imagenet12_test_stripped.json
IMAGENET12_TEST_STRIPPED = {
    'images': [{'id': 4, 'file_name': 'data/imagenet12/4.jpg'},
               {'id': 6, 'file_name': 'data/imagenet12/6.jpg'}],
    'categories': [{'id': i, 'name': f'label{i}'} for i in (1, 2, 3, 4)]}
TEST_STRIPPED = {'aircraft': AIRCRAFT_TEST_STRIPPED, 'imagenet12': IMAGENET12_TEST_STRIPPED}


def jpeg(seed: int, size=(20, 16)) -> bytes:
  rng = np.random.RandomState(seed)
  buf = io.BytesIO()
  Image.fromarray(rng.randint(0, 255, size[::-1] + (3,), np.uint8)).save(buf, 'JPEG')
  return buf.getvalue()


def tar(path: str, members: dict):
  """A tar of `members` (name -> bytes), gzipped when `path` ends in .tgz or .tar.gz."""
  with tarfile.open(path, 'w:gz' if path.endswith(('.tgz', '.tar.gz')) else 'w') as f:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      f.addfile(info, io.BytesIO(data))


def decathlon(root: str, domain: str, train=(1, 2), val=(3,), test=None, extra=(5,)):
  """<root>/decathlon-1.0/annotations/<domain>_{train,val,test_stripped}.json and
  <root>/<domain>.tar holding <domain>/<id>.jpg for every id (`extra`: images in the
  archive that no split lists, which the builder must skip). Labels: id % 3. `test`
  None: TFDS's own stripped test annotation of the domain where it has one, else (4,)."""
  ann = os.path.join(root, 'decathlon-1.0', 'annotations')
  os.makedirs(ann, exist_ok=True)
  tfds_stripped = TEST_STRIPPED.get(domain, AIRCRAFT_TEST_STRIPPED)
  if test is None:
    test = tuple(im['id'] for im in tfds_stripped['images']) if domain in TEST_STRIPPED else (4,)
  categories = tfds_stripped['categories']
  for split, ids in (('train', train), ('val', val)):
    images = [{'id': i, 'file_name': f'data/{domain}/{i}.jpg'} for i in ids]
    annotations = [{'id': 100 + i, 'image_id': i, 'category_id': 1 + i % 3} for i in ids]
    with open(os.path.join(ann, f'{domain}_{split}.json'), 'w') as f:
      json.dump({'images': images, 'annotations': annotations, 'categories': categories}, f)
  stripped = dict(tfds_stripped, images=[
      {'id': i, 'file_name': f'data/{domain}/{i}.jpg'} for i in test])
  with open(os.path.join(ann, f'{domain}_test_stripped.json'), 'w') as f:
    json.dump(stripped, f)
  ids = sorted(set(train) | set(val) | set(test) | set(extra))
  tar(os.path.join(root, f'{domain}.tar'), {f'{domain}/{i}.jpg': jpeg(i) for i in ids})
  return {'train': len(train), 'validation': len(val), 'test': len(test)}


def stanford_dogs(root: str, train, test):
  """Images.tar, list.tar/{train,test,file}_list.mat, Annotation.tar/<class>/<image>
  (the dummy_data names; the builder's download and extract return these paths).
  `train`, `test`: (class folder, number of images) pairs."""
  files = {'train': [], 'test': []}
  members, n = {}, 0
  for split, spec in (('train', train), ('test', test)):
    for cls, count in spec:
      for _ in range(count):
        n += 1
        name = f'{cls}/{cls.split("-")[0]}_{n}.jpg'
        files[split].append(name)
        members[f'Images/{name}'] = jpeg(n)
        ann = os.path.join(root, 'Annotation.tar', cls)
        os.makedirs(ann, exist_ok=True)
        with open(os.path.join(ann, name.split('/')[-1][:-4]), 'w') as f:
          f.write('<annotation><size><width>20</width><height>16</height></size><object>'
                  '<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>12</ymax>'
                  '</bndbox></object></annotation>')
  tar(os.path.join(root, 'Images.tar'), members)
  lists = os.path.join(root, 'list.tar')
  os.makedirs(lists, exist_ok=True)
  for split in ('train', 'test'):
    scipy.io.savemat(os.path.join(lists, f'{split}_list.mat'),
                     {'file_list': np.array(files[split], dtype=object)})
  scipy.io.savemat(os.path.join(lists, 'file_list.mat'),
                   {'file_list': np.array(files['train'] + files['test'], dtype=object)})
  return {'train': len(files['train']), 'test': len(files['test'])}


def oxford_flowers102(root: str, labels, trnid, valid, tstid):
  """jpg/image_<id>.jpg, imagelabels.mat {'labels': 1-based label per image id} and
  setid.mat {'trnid', 'valid', 'tstid'} (1-based image ids), as the builder's
  download_and_extract returns them: {'images': root, 'labels': ..., 'setid': ...}."""
  os.makedirs(os.path.join(root, 'jpg'), exist_ok=True)
  for i in range(1, len(labels) + 1):
    with open(os.path.join(root, 'jpg', f'image_{i:05d}.jpg'), 'wb') as f:
      f.write(jpeg(i))
  paths = {'images': root, 'labels': os.path.join(root, 'imagelabels.mat'),
           'setid': os.path.join(root, 'setid.mat')}
  scipy.io.savemat(paths['labels'], {'labels': np.asarray([labels])})
  scipy.io.savemat(paths['setid'], {k: np.asarray([v]) for k, v in
                                    (('trnid', trnid), ('valid', valid), ('tstid', tstid))})
  return paths


def _png(array) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, 'PNG')
  return buf.getvalue()


def caltech_birds2011(root: str, images, size=(20, 16)) -> dict:
  """CUB_200_2011.tgz (CUB_200_2011/images.txt, train_test_split.txt, bounding_boxes.txt
  with lines '<id> <value(s)>', and CUB_200_2011/images/<NNN.Class>/<image>.jpg) and
  segmentations.tgz (segmentations/<NNN.Class>/<image>.png: an 8-bit mask of the image's
  size; the builder normalises the box by it). `images`: (class folder, is_train,
  (x, y, width, height) box in pixels) per image id 1, 2, ... Returns the mask arrays by
  image name (<NNN.Class>/<file>.jpg), in image id order."""
  files, masks, lines = {}, {}, {'images': [], 'train_test_split': [], 'bounding_boxes': []}
  for i, (cls, is_train, box) in enumerate(images, 1):
    name = f'{cls}/{cls.split(".", 1)[1]}_{i:04d}_{100 + i}.jpg'
    files[f'CUB_200_2011/images/{name}'] = jpeg(i, size)
    masks[name] = np.random.RandomState(i).randint(0, 255, size[::-1], np.uint8)
    lines['images'].append(f'{i} {name}')
    lines['train_test_split'].append(f'{i} {int(is_train)}')
    lines['bounding_boxes'].append(f'{i} ' + ' '.join(f'{v:.1f}' for v in box))
  for txt, rows in lines.items():
    files[f'CUB_200_2011/{txt}.txt'] = ('\n'.join(rows) + '\n').encode()
  os.makedirs(root, exist_ok=True)
  tar(os.path.join(root, 'CUB_200_2011.tgz'), files)
  tar(os.path.join(root, 'segmentations.tgz'),
      {f'segmentations/{n[:-4]}.png': _png(m) for n, m in masks.items()})
  return masks


def _cars_annotations(rows) -> bytes:
  """An 'annotations' 1xN struct array as in the devkit (bbox_x1, bbox_y1, bbox_x2,
  bbox_y2, class, fname; MATLAB's 1x1 numbers and strings), as .mat bytes."""
  fields = ('bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname')
  ann = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
  for j, (fname, cls, box) in enumerate(rows):
    ann[0, j] = tuple(np.array([[v]], np.uint16) for v in (*box, cls)) + (np.array([fname]),)
  buf = io.BytesIO()
  scipy.io.savemat(buf, {'annotations': ann})
  return buf.getvalue()


def cars196(root: str, train, test, size=(20, 16)) -> dict:
  """cars_train.tgz (cars_train/<NNNNN>.jpg), cars_test.tgz (cars_test/<NNNNN>.jpg: the
  same names), car_devkit.tgz (devkit/cars_train_annos.mat) and
  cars_test_annos_withlabels.mat. `train`, `test`: (1-based class, (x1, y1, x2, y2) box
  in pixels) per image. Returns the split sizes."""
  os.makedirs(root, exist_ok=True)
  annotations = {}
  for split, spec, seed in (('train', train, 0), ('test', test, 1000)):
    names = [f'{j:05d}.jpg' for j in range(1, len(spec) + 1)]
    tar(os.path.join(root, f'cars_{split}.tgz'),
        {f'cars_{split}/{n}': jpeg(seed + j, size) for j, n in enumerate(names, 1)})
    annotations[split] = _cars_annotations(
        [(n, cls, box) for n, (cls, box) in zip(names, spec)])
  tar(os.path.join(root, 'car_devkit.tgz'), {'devkit/cars_train_annos.mat': annotations['train']})
  with open(os.path.join(root, 'cars_test_annos_withlabels.mat'), 'wb') as f:
    f.write(annotations['test'])
  return {'train': len(train), 'test': len(test)}


def prepare(name, data_dir, download=None, extract=None):
  """Prepares catalog builder `name` from fake downloads (`download`, `extract`: what
  TFDS's download manager returns instead of fetching)."""
  builder = catalog.builder(name, data_dir=data_dir)
  with mock.patch.object(tfds.download.DownloadManager, 'download', return_value=download), \
       mock.patch.object(tfds.download.DownloadManager, 'download_and_extract',
                         return_value=extract):
    builder.download_and_prepare()
  return builder
