"""Fake downloads in the layout of TFDS's own dummy_data for the catalog builders
(tensorflow_datasets/testing/test_data/fake_examples/visual_domain_decathlon and
datasets/stanford_dogs/dummy_data), written with our own images: TFDS keeps its fake
archives and .mat lists as binaries. The Decathlon's stripped test annotations (the only
text files of its fake_examples) are TFDS's, verbatim."""
import io
import json
import os
import tarfile

import numpy as np
from PIL import Image
import scipy.io

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


def _jpeg(seed: int, size=(20, 16)) -> bytes:
  rng = np.random.RandomState(seed)
  buf = io.BytesIO()
  Image.fromarray(rng.randint(0, 255, size[::-1] + (3,), np.uint8)).save(buf, 'JPEG')
  return buf.getvalue()


def _tar(path: str, members: dict):
  with tarfile.open(path, 'w') as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))


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
  _tar(os.path.join(root, f'{domain}.tar'), {f'{domain}/{i}.jpg': _jpeg(i) for i in ids})
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
        members[f'Images/{name}'] = _jpeg(n)
        ann = os.path.join(root, 'Annotation.tar', cls)
        os.makedirs(ann, exist_ok=True)
        with open(os.path.join(ann, name.split('/')[-1][:-4]), 'w') as f:
          f.write('<annotation><size><width>20</width><height>16</height></size><object>'
                  '<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>12</ymax>'
                  '</bndbox></object></annotation>')
  _tar(os.path.join(root, 'Images.tar'), members)
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
      f.write(_jpeg(i))
  paths = {'images': root, 'labels': os.path.join(root, 'imagelabels.mat'),
           'setid': os.path.join(root, 'setid.mat')}
  scipy.io.savemat(paths['labels'], {'labels': np.asarray([labels])})
  scipy.io.savemat(paths['setid'], {k: np.asarray([v]) for k, v in
                                    (('trnid', trnid), ('valid', valid), ('tstid', tstid))})
  return paths
