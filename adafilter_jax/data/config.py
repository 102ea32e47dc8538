"""Default data config; the training config nests it as `config.data`."""

from __future__ import annotations

import ml_collections

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def get_data_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # TFDS name with config, e.g. 'caltech256/30', 'digits/target', or a registry key
  # from adafilter_jax.data.datasets (e.g. 'caltech256_30'). Must be set.
  c.name = ml_collections.FieldReference('', field_type=str)
  # None -> $TFDS_DATA_DIR, else ~/tensorflow_datasets.
  c.data_dir = ml_collections.FieldReference(None, field_type=str)
  # Where the manual downloads are; only used when a dataset is prepared.
  c.manual_dir = ml_collections.FieldReference(None, field_type=str)
  c.train_split = 'train'  # or several joined by '+', e.g. 'train+validation'
  c.eval_split = 'test'
  c.image_size = 224
  c.resize_size = 256
  # Train augmentation: random resized crop over this (min, max) fraction of the image
  # area (torchvision's default), then a horizontal flip if `flip`.
  c.crop_scale = (0.08, 1.0)
  c.flip = True
  # grain worker processes; 0 = decode and augment in the training process.
  c.num_workers = 0
  # Batches each worker keeps ready ahead of the trainer.
  c.prefetch_batches = 2
  # Undecodable images: False = fail naming the file, True = skip them (counted in the log).
  c.skip_corrupt = False
  # For a user's own data (data/validation.py): hold this fraction of each class's train
  # images out (seeded by val_seed), choose the checkpoint on them, and evaluate the eval
  # split once, at the end. 0 = the paper's protocol: choose on the eval split (Table 2).
  c.val_fraction = 0.0
  c.val_seed = 0
  # TLlib's sampling-rate protocol (data/sampling.py): train on this fraction of each
  # class's train images (at least one), drawn by sample_seed; 1.0 = all of them.
  c.sample_rate = 1.0
  c.sample_seed = 0
  c.mean = IMAGENET_MEAN
  c.std = IMAGENET_STD
  return c
