"""`fgvc_aircraft`: FGVC-Aircraft 2013b, the 100 variants, official trainval / test.

Note: the paper's Table 1 Aircraft (3334 / 3333) is the Visual Decathlon version; this
is the original benchmark (6667 / 3333), for comparison with other fine-grained work.
The 20-pixel copyright banner at the bottom of every image is cropped away by default
(the dataset's README asks users to), so it cannot leak information into training.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from adafilter_jax.data.builders import common

URL = 'https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz'
FOLDER = 'fgvc-aircraft-2013b'
BANNER = 20


class FgvcAircraftConfig(tfds.core.BuilderConfig):

  def __init__(self, *, crop_banner: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.crop_banner = crop_banner


class FgvcAircraft(common.ImageClassificationBuilder):
  """Fine-Grained Visual Classification of Aircraft (Maji et al. 2013), variants."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [
      FgvcAircraftConfig(name='variant', description='100 variants, banner cropped.'),
      FgvcAircraftConfig(name='variant_uncropped', crop_banner=False,
                         description='100 variants, images as distributed.'),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Download fgvc-aircraft-2013b.tar.gz (2.6 GB) from
  https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ ({URL})
  and put it, or the folder it extracts to ({FOLDER}/data/...), in the manual
  directory (--manual_dir).
  """

  def _homepage(self):
    return 'https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/'

  def _split_generators(self, dl_manager):
    path = common.find_manual(
        dl_manager, names=[FOLDER, FOLDER + '.tar.gz'], what='FGVC-Aircraft',
        instructions=self.MANUAL_DOWNLOAD_INSTRUCTIONS, url=URL,
        allow_download=self.allow_download)
    data = os.path.join(common.subdir_with(path, FOLDER), 'data')
    need = lambda f: common.require(os.path.join(data, f), f'{FOLDER}/data/{f}',
                                    self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    with open(need('variants.txt')) as f:
      classes = [line.strip() for line in f if line.strip()]
    self._set_class_names(classes)
    label = {c: i for i, c in enumerate(classes)}
    return {s: self._generate_examples(data, need(f'images_variant_{s}.txt'), label)
            for s in ('trainval', 'test')}

  def _generate_examples(self, data, list_file, label):
    with open(list_file) as f:
      rows = [line.strip().split(' ', 1) for line in f if line.strip()]
    crop = BANNER if self.builder_config.crop_banner else 0
    yield from self._examples(
        ((f'{image_id}.jpg', label[variant],
          os.path.join(data, 'images', f'{image_id}.jpg')) for image_id, variant in rows),
        crop_bottom=crop)
