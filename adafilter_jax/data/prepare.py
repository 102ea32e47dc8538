r"""Prepares a dataset as TFDS ArrayRecord files (no TensorFlow), once per data_dir.

  python -m adafilter_jax.data.prepare NAME --manual_dir DIR [--data_dir DIR]

NAME: a registry key (caltech256_30, mit_indoor, ...; see adafilter_jax.data.datasets),
a TFDS name with config (caltech256/30, digits/target; caltech256 = both configs), or
image_folder/<your name> for your own images in --manual_dir (prepared again when the
folder changed since).
"""

from __future__ import annotations

import functools
import os
import sys

from absl import app
from absl import flags
from absl import logging

from adafilter_jax.data import datasets
from adafilter_jax.data import downloads
from adafilter_jax.data import logs
from adafilter_jax.data import staging
from adafilter_jax.data import cli_errors

def _builder(name: str, data_dir: str | None, *, manual_dir: str | None, skip_corrupt: bool,
             allow_download: bool, image_folder_kwargs: dict | None = None):
  base, _, config = name.partition('/')
  if base in datasets.OWN_BUILDERS:
    from adafilter_jax.data import builders  # pylint: disable=g-import-not-at-top
    kwargs = dict(data_dir=data_dir, skip_corrupt=skip_corrupt, allow_download=allow_download)
    if base == 'image_folder':
      cfg = builders.image_folder.ImageFolderConfig(name=config or 'default',
                                                    **(image_folder_kwargs or {}))
      return builders.ImageFolder(config=cfg, **kwargs)
    cls = {'caltech256': builders.Caltech256, 'digits': builders.Digits,
           'mit_indoor67': builders.MitIndoor67,
           'fgvc_aircraft': builders.FgvcAircraft,
           'omniglot_small': builders.OmniglotSmall}[base]
    return cls(config=config or None, **kwargs)
  from adafilter_jax.data.builders import catalog  # pylint: disable=g-import-not-at-top
  catalog.require_manual_copies(name, manual_dir)
  downloads.require_reachable(name, manual_dir)
  return catalog.builder(name, data_dir=data_dir)


def _image_folder_state(builder, name: str, manual_dir: str | None):
  """(whether to prepare again, the folder, the record to keep) for an image folder: again
  when its images or split settings changed since it was prepared (a folder prepared
  without a record too); without --manual_dir, the folder it was prepared from."""
  from adafilter_jax.data.builders import image_folder  # pylint: disable=g-import-not-at-top
  exists = builder.data_path.exists()
  old = image_folder.read_record(os.fspath(builder.data_dir)) if exists else None
  folder = manual_dir or (old or {}).get('root')
  if folder is None:
    return False, manual_dir, None  # the builder names what is missing
  cfg = builder.builder_config
  record = image_folder.record(folder, {'seed': cfg.seed, 'train_fraction': cfg.train_fraction,
                                        'train_per_class': cfg.train_per_class})
  if not exists:
    return False, folder, record
  found = (image_folder.changes(old, record) if old else
           ['no record of the files it was prepared from'])
  if not found:
    return False, folder, record
  print(f'{name}: {folder} changed since it was prepared ({image_folder.describe(found)}): '
        'preparing it again.', flush=True)
  return True, folder, record


def _check_by_hand(name: str, folder: str | None, allow_download: bool):
  """The files a person must fetch, looked for before TFDS starts (it would first announce
  a dataset of 'Unknown size', then stop inside the builder)."""
  from adafilter_jax.data.builders import common  # pylint: disable=g-import-not-at-top
  base = name.split('/')[0]
  if base == 'image_folder':
    if not (folder and os.path.isdir(folder)):
      raise common.MissingManualFileError(
          f'{name}: no image folder {folder or "given"}: pass --manual_dir ROOT, your images '
          'as ROOT/<split>/<class>/<image> or ROOT/<class>/<image> (docs/data.md).')
    return
  if base in downloads.MANUAL:  # this repo's builders, which --download lets fetch them
    files, fetchable = downloads.MANUAL[base], True
  elif base in datasets.OWN_BUILDERS:
    return
  else:  # TFDS's catalog builders that cannot download their files
    source = downloads.source(name)
    files, fetchable = source.files if source.kind == downloads.MANUAL_KIND else (), False
  missing = [f for f in files if not downloads.present(f, folder)]
  if missing and not (allow_download and fetchable):
    raise common.MissingManualFileError(
        f'{name}: missing by-hand download(s): '
        + '; '.join(downloads.describe(f, folder) for f in missing)
        + '. Download them there' + (', or prepare with --download where a network exists'
                                     if fetchable else '') + ' (docs/data.md).')


def prepare(name: str, *, data_dir: str | None = None, manual_dir: str | None = None,
            skip_corrupt: bool = False, allow_download: bool = False,
            image_folder_kwargs: dict | None = None) -> list[str]:
  """Prepares `name` (all configs of a bare multi-config name); returns the dataset dirs.

  An image folder prepared before is prepared again when it changed since. Each is
  prepared aside and moved into place whole (`staging.prepare_staged`)."""
  name = datasets.tfds_name(name)
  datasets.check_name(name)
  data_dir = os.path.expanduser(
      data_dir or os.environ.get('TFDS_DATA_DIR') or '~/tensorflow_datasets')
  names = [name]
  if name == 'caltech256':
    names = ['caltech256/30', 'caltech256/60']
  elif name == 'omniglot_small':
    names = ['omniglot_small/source'] + [f'omniglot_small/shots{k}' for k in (1, 5, 15)]
  elif name == 'digits':
    names = ['digits/source', 'digits/target']  # the demo's; digits/shots<k> by name
  paths = []
  for n in names:
    make_builder = functools.partial(
        _builder, n, manual_dir=manual_dir, skip_corrupt=skip_corrupt,
        allow_download=allow_download, image_folder_kwargs=image_folder_kwargs)
    builder = make_builder(data_dir)
    again, folder, record = False, manual_dir, None
    if n.split('/')[0] == 'image_folder':
      again, folder, record = _image_folder_state(builder, n, manual_dir)
    target = os.fspath(builder.data_dir)
    if again or not builder.data_path.exists():
      _check_by_hand(n, folder, allow_download)
      with staging.removed_if_it_fails(data_dir):
        builder = staging.prepare_staged(n, data_dir, target, make_builder, folder=folder,
                                         record=record)
    splits = {s: v.num_examples for s, v in builder.info.splits.items()}
    logging.info('%s prepared in %s: %s', n, target, splits)
    print(f'{n}: {splits} -> {target}')
    paths.append(target)
  return paths


def define_flags():
  # Defined only when run as a command, so importing prepare adds no global flags.
  flags.DEFINE_string('manual_dir', None, 'Folder with the downloaded files.')
  flags.DEFINE_string(
      'data_dir', None, 'Where prepared datasets go; default $TFDS_DATA_DIR or ~/tensorflow_datasets.')
  flags.DEFINE_bool(
      'skip_corrupt', False, 'Skip undecodable images (counted in the log) instead of failing.')
  flags.DEFINE_bool(
      'download', False, 'Download official archives missing from --manual_dir (needs a network).')
  flags.DEFINE_integer('seed', 0, 'image_folder: seed of the per-class split.')
  flags.DEFINE_float(
      'train_fraction', 0.8, 'image_folder (one folder of classes): train share per class.')
  flags.DEFINE_integer(
      'train_per_class', None, 'image_folder: train images per class (overrides the fraction).')



def main(argv):
  logs.quiet_libraries(None)
  if len(argv) != 2:
    raise app.UsageError('Usage: python -m adafilter_jax.data.prepare NAME --manual_dir DIR')
  f = flags.FLAGS
  try:
    prepare(argv[1], data_dir=f.data_dir, manual_dir=f.manual_dir,
            skip_corrupt=f.skip_corrupt, allow_download=f.download,
            image_folder_kwargs=dict(seed=f.seed, train_fraction=f.train_fraction,
                                     train_per_class=f.train_per_class))
  except cli_errors.USER_ERRORS as e:
    # The message is the whole story (what, where, how); a traceback would bury it.
    sys.exit(cli_errors.report(e))


if __name__ == '__main__':
  define_flags()
  app.run(main)
