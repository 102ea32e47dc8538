"""`mit_indoor67`: MIT Indoor Scene Recognition, the official 80/20 lists (5360 / 1340).

TrainImages.txt / TestImages.txt list '<class>/<file>' paths under Images/.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from adafilter_jax.data.builders import common

URL = 'http://groups.csail.mit.edu/vision/LabelMe/NewImages/indoorCVPR_09.tar'
LIST_URL = 'https://web.mit.edu/torralba/www/{}'
LISTS = {'train': 'TrainImages.txt', 'test': 'TestImages.txt'}


class MitIndoor67(common.ImageClassificationBuilder):
  """67 indoor scene categories (Quattoni & Torralba, CVPR 2009)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  From https://web.mit.edu/torralba/www/indoor.html download
    indoorCVPR_09.tar ({URL}) -- or its extracted Images/ folder,
    TrainImages.txt and TestImages.txt ({LIST_URL.format('TrainImages.txt')}, ...)
  and put all three in the manual directory (--manual_dir).
  """

  def _homepage(self):
    return 'https://web.mit.edu/torralba/www/indoor.html'

  def _split_generators(self, dl_manager):
    find = lambda names, what, url: common.find_manual(
        dl_manager, names=names, what=what, url=url,
        instructions=self.MANUAL_DOWNLOAD_INSTRUCTIONS, allow_download=self.allow_download)
    images = common.subdir_with(find(['Images', 'indoorCVPR_09.tar'], 'MIT Indoor images', URL),
                                'Images')
    lists = {s: _read_list(find([f], f, LIST_URL.format(f))) for s, f in LISTS.items()}
    classes = sorted({p.split('/')[0] for entries in lists.values() for p in entries})
    self._set_class_names(classes)
    label = {c: i for i, c in enumerate(classes)}
    return {s: self._generate_examples(images, entries, label) for s, entries in lists.items()}

  def _generate_examples(self, images, entries, label):
    yield from self._examples(
        (p, label[p.split('/')[0]],
         common.require(os.path.join(images, p), 'an image listed in the split files',
                        self.MANUAL_DOWNLOAD_INSTRUCTIONS))
        for p in entries)


def _read_list(path: str) -> list[str]:
  with open(path) as f:
    return [line.strip().replace('\\', '/') for line in f if line.strip()]
