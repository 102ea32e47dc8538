"""The paper's datasets: one place for TFDS names, splits and Table 1 counts.

Configs and docs refer to datasets by these keys (or directly by TFDS name).
"""

from __future__ import annotations

import dataclasses
import difflib


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  key: str
  tfds_name: str           # name/config as prepared under data_dir
  train_split: str
  eval_split: str
  num_train: int | None    # Table 1 counts (None: not in the paper); Decathlon: TFDS's
  num_eval: int | None
  num_classes: int
  manual: bool             # needs files the user downloads by hand
  note: str = ''


_SPECS = [
    DatasetSpec('caltech256_30', 'caltech256/30', 'train', 'test', 7680, 5120, 256, True,
                '30 seeded train images per class, 20 eval, clutter excluded.'),
    DatasetSpec('caltech256_60', 'caltech256/60', 'train', 'test', 15360, 5120, 256, True,
                '60 seeded train images per class, 20 eval, clutter excluded.'),
    DatasetSpec('stanford_dogs', 'stanford_dogs', 'train', 'test', 12000, 8580, 120, False,
                "TFDS catalog; its official train/test lists match Table 1."),
    DatasetSpec('aircraft', 'visual_domain_decathlon/aircraft', 'train', 'validation',
                3334, 3333, 100, False,
                'Visual Decathlon version (train / val) matches Table 1.'),
    DatasetSpec('fgvc_aircraft', 'fgvc_aircraft/variant', 'trainval', 'test', 6667, 3333, 100, True,
                'Original FGVC-Aircraft 2013b variants; NOT the Table 1 counts (more train data).'),
    DatasetSpec('mit_indoor', 'mit_indoor67', 'train', 'test', 5360, 1340, 67, True,
                'Official TrainImages.txt / TestImages.txt.'),
    DatasetSpec('ucf101', 'visual_domain_decathlon/ucf101', 'train', 'validation',
                7629, 1908, 101, False,
                "Visual Decathlon dynamic images; Table 1's counts, TFDS's are 7585 / 1952."),
    DatasetSpec('omniglot', 'visual_domain_decathlon/omniglot', 'train', 'validation',
                19476, 6492, 1623, False,
                "Visual Decathlon version; Table 1's counts, TFDS's are 17853 / 6492."),
    # The ten Visual Decathlon domains (SpotTune's Table 3; train -> validation, the test
    # labels are private), with the split sizes of TFDS's catalog page (its builder reads
    # the Decathlon devkit's annotation lists). Omniglot's and UCF-101's differ from
    # AdaFilter's Table 1 counts of the keys above (19476 / 6492, 7629 / 1908).
    *[DatasetSpec(f'decathlon_{d.replace("-", "_")}', f'visual_domain_decathlon/{d}',
                  'train', 'validation', n_train, n_eval, c, d == 'imagenet12',
                  'Visual Decathlon (72 px short side), train / validation.')
      for d, n_train, n_eval, c in (
          ('imagenet12', 1232167, 49000, 1000), ('aircraft', 3334, 3333, 100),
          ('cifar100', 40000, 10000, 100), ('daimlerpedcls', 23520, 5880, 2),
          ('dtd', 1880, 1880, 47), ('gtsrb', 31367, 7842, 43),
          ('vgg-flowers', 1020, 1020, 102), ('omniglot', 17853, 6492, 1623),
          ('svhn', 47217, 26040, 10), ('ucf101', 7585, 1952, 101))],
    # SpotTune's Table 2 datasets (ResNet-50).
    DatasetSpec('cubs', 'caltech_birds2011', 'train', 'test', 5994, 5794, 200, False,
                'CUB-200-2011 from the TFDS catalog.'),
    DatasetSpec('stanford_cars', 'cars196', 'train', 'test', 8144, 8041, 196, True,
                "Stanford Cars from the TFDS catalog; TFDS's URLs are dead: the original "
                'files in --manual_dir.'),
    DatasetSpec('oxford_flowers', 'oxford_flowers102', 'train+validation', 'test', 2040, 6149,
                102, False, "Trains on TFDS's train + validation (1020 each): the paper's "
                '2040 train images.'),
    DatasetSpec('sketches', 'image_folder/sketches', 'train', 'test', 16000, 4000, 250, True,
                'Eitz et al. 2012 (20000 sketches, 250 classes); SpotTune: 16000 / 4000.'),
    DatasetSpec('wikiart', 'image_folder/wikiart', 'train', 'test', 42129, 10628, 195, True,
                'WikiArt artists (195 classes), split as in SpotTune: 42129 / 10628.'),
    # Selective joint FT's source (Ge & Yu); TFDS's manual builder. Its test split has
    # no labels, so the eval split is validation.
    DatasetSpec('imagenet2012', 'imagenet2012', 'train', 'validation', None, None, 1000,
                True, 'ILSVRC 2012 (1281167 / 50000) from TFDS: image-net.org archives.'),
    DatasetSpec('digits_source', 'digits/source', 'train', 'test', 721, 180, 5, False,
                'Offline demo source task: sklearn digits 0-4, seeded 80/20 per class.'),
    DatasetSpec('digits_target', 'digits/target', 'train', 'test', 50, 846, 5, False,
                'Offline demo target task: digits 5-9 as 0-4, 10 train images per class.'),
    # Omniglot from TFDS's catalog builder (all four archives of brendenlake/omniglot in
    # --manual_dir, docs/data.md): train = images_background, test = images_evaluation.
    DatasetSpec('omniglot_tfds', 'omniglot', 'train', 'test', 19280, 13180, 1623, True,
                "TFDS's omniglot: the 30 background alphabets train, the 20 evaluation "
                'alphabets test (disjoint characters: for pretraining, not for Table 2).'),
    # The study's Omniglot transfer (docs/study.md), from the two small archives.
    DatasetSpec('omniglot_small_source', 'omniglot_small/source', 'train', 'test', 1696, 424,
                106, True, 'Katakana, Sanskrit, Tagalog characters: 16 / 4 drawers each.'),
    *[DatasetSpec(f'omniglot_small_shots{k}', f'omniglot_small/shots{k}', 'train', 'test',
                  86 * k, 430, 86, True, f'Balinese, Early Aramaic, Korean characters: {k} '
                  'train drawers each, the same 5 eval drawers for every k.') for k in (1, 5, 15)],
    # The study's target tasks (docs/study.md): k shots per class, one eval set for all k.
    *[DatasetSpec(f'digits_shots{k}', f'digits/shots{k}', 'train', 'test', 5 * k, 396, 5,
                  False, f'Digits 5-9 as 0-4, {k} train images per class; the same 396 '
                  'eval images for every k.') for k in (5, 10, 25, 100)],
]

DATASETS: dict[str, DatasetSpec] = {s.key: s for s in _SPECS}

# Builders this package defines (TF-free); anything else is a TFDS catalog builder.
OWN_BUILDERS = ('caltech256', 'mit_indoor67', 'fgvc_aircraft', 'digits', 'image_folder',
                'omniglot_small')
# Builders that need no manual download and are prepared on first use.
AUTO_PREPARE = ('digits',)


def resolve(name: str) -> DatasetSpec | None:
  """Returns the spec for a registry key or a TFDS name, or None for other datasets."""
  if name in DATASETS:
    return DATASETS[name]
  for spec in _SPECS:
    if spec.tfds_name == name:
      return spec
  return None


def tfds_name(name: str) -> str:
  spec = resolve(name)
  return spec.tfds_name if spec else name


def check_name(name: str, key: str | None = None):
  """Raises for a `name` that is no registry key, no builder of this package and no TFDS
  catalog dataset, naming the close matches (TFDS's own error lists its whole catalogue).
  `key`: the config field that holds it."""
  base = name.split('/')[0]
  if resolve(name) or base in OWN_BUILDERS:
    return
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  catalog = tfds.list_builders(with_community_datasets=False)
  if base in catalog:
    return
  close = difflib.get_close_matches(name, [*DATASETS, *OWN_BUILDERS, *catalog], n=3)
  meant = f"did you mean {' or '.join(map(repr, close))}? " if close else ''
  raise ValueError(
      f"unknown dataset {name!r}{f' ({key})' if key else ''}: {meant}A dataset is a key of "
      'adafilter_jax/data/datasets.py (caltech256_30, mit_indoor, digits_target, ...), '
      'image_folder/NAME for your own images, or a TFDS catalog name (docs/data.md).')
