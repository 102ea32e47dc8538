"""What each dataset needs before it can be prepared: nothing (made offline), files TFDS
downloads itself, or files a person must download by hand; with URL, size and checksum.

The TFDS catalog builders register every download with its size and SHA-256
(`url_infos`, which TFDS checks on download); this repo's builders read archives that
must be fetched by hand, listed in MANUAL with the sizes their pages publish and the
checksum where one is published. Preparation decodes every image, so a truncated
archive stops it either way (docs/data.md). A dataset TFDS downloads, whose server cannot
be reached (offline), stops at once naming its files, as a by-hand one does: TFDS itself
would retry each download for minutes.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import urllib.parse

from adafilter_jax.data import datasets
from adafilter_jax.data.builders import caltech256
from adafilter_jax.data.builders import common
from adafilter_jax.data.builders import fgvc_aircraft
from adafilter_jax.data.builders import mit_indoor67

AUTO, DOWNLOAD, MANUAL_KIND = 'prepared offline on first use', 'downloads itself', 'by hand'


@dataclasses.dataclass(frozen=True)
class File:
  name: str               # as it must be named in the manual dir
  url: str
  size: str               # as published
  checksum: str = ''      # 'md5:...' / 'sha256:...'; '' where none is published
  alternatives: tuple[str, ...] = ()  # what also counts (the extracted folder)


@dataclasses.dataclass(frozen=True)
class Source:
  kind: str               # AUTO, DOWNLOAD or MANUAL_KIND
  files: tuple[File, ...] = ()
  note: str = ''


_LISTS = lambda name: File(name, mit_indoor67.LIST_URL.format(name), 'under 1 MB')
# This repo's builders, by TFDS base name: the files they read from --manual_dir.
MANUAL = {
    'caltech256': (File('256_ObjectCategories.tar', caltech256.URL, '1.2 GB',
                        # as torchvision's datasets/caltech.py records it
                        'md5:67b4f42ca05d46448c6bb8ecd2220f6d', ('256_ObjectCategories',)),),
    'mit_indoor67': (File('indoorCVPR_09.tar', mit_indoor67.URL, '2.4 GB', '', ('Images',)),
                     _LISTS('TrainImages.txt'), _LISTS('TestImages.txt')),
    'fgvc_aircraft': (File('fgvc-aircraft-2013b.tar.gz', fgvc_aircraft.URL, '2.75 GB', '',
                           ('fgvc-aircraft-2013b',)),),
}
# Catalog builders that download nothing themselves (dead URLs, registration).
_CATALOG_MANUAL = ('cars196', 'imagenet2012')


def _catalog_files(tfds_name: str) -> tuple[File, ...]:
  """The files TFDS registers for a catalog builder (one per name), with size and SHA-256."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  base, _, config = tfds_name.partition('/')
  files = {}
  for url, info in (tfds.builder_cls(base).url_infos or {}).items():
    if base == 'visual_domain_decathlon' and 'devkit' not in url and (
        ('imagenet' in url) != (config == 'imagenet12')):
      continue  # each domain downloads the devkit and its own archive only
    name = info.filename or os.path.basename(url)
    files.setdefault(name, File(name, url, f'{info.size}', f'sha256:{info.checksum}'))
  return tuple(files.values())


def source(name: str) -> Source:
  """What dataset `name` (a registry key or a TFDS name) needs to be prepared."""
  tfds_name = datasets.tfds_name(name)
  base = tfds_name.split('/')[0]
  if base in datasets.AUTO_PREPARE:
    return Source(AUTO)
  if base in MANUAL:
    return Source(MANUAL_KIND, MANUAL[base])
  if base == 'image_folder':
    return Source(MANUAL_KIND, note='your own images: ROOT/<split>/<class>/<image> (docs/data.md)')
  spec = datasets.resolve(name)
  kind = MANUAL_KIND if base in _CATALOG_MANUAL or (spec and spec.manual) else DOWNLOAD
  return Source(kind, _catalog_files(tfds_name))


def present(file: File, manual_dir: str | None) -> bool:
  return bool(manual_dir) and any(os.path.exists(os.path.join(manual_dir, n))
                                  for n in (file.name, *file.alternatives))


def describe(file: File, manual_dir: str | None = None) -> str:
  """One line a person can act on: what, how large, its checksum, where it goes."""
  where = os.path.join(manual_dir or '<--manual_dir>', file.name)
  also = f' (or its extracted {", ".join(file.alternatives)}/)' if file.alternatives else ''
  check = file.checksum or 'no checksum published'
  return f'{file.url}  ({file.size}, {check}) -> {where}{also}'


PROBE_TIMEOUT_S = 5.0  # a server that has not accepted a connection by then is not reached


def _server(url: str) -> tuple[str, int]:
  parts = urllib.parse.urlsplit(url)
  return parts.hostname, parts.port or (443 if parts.scheme == 'https' else 80)


def unreachable(files, timeout: float = PROBE_TIMEOUT_S) -> dict[str, str]:
  """'host:port' -> why, for each server of `files` that does not accept a connection
  within `timeout` seconds (one connection each; nothing is sent)."""
  down = {}
  for host, port in dict.fromkeys(_server(f.url) for f in files):
    try:
      socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
      down[f'{host}:{port}'] = f'{type(e).__name__}: {e}'
  return down


def require_reachable(name: str, manual_dir: str | None) -> None:
  """For a dataset TFDS downloads itself: files not in `manual_dir` whose server cannot
  be reached stop preparation before TFDS starts, naming each file, its URL and where to
  put it (TFDS takes a file from the manual dir under its registered name, size and
  SHA-256 checked)."""
  src = source(name)
  if src.kind != DOWNLOAD:
    return
  missing = [f for f in src.files if not present(f, manual_dir)]
  down = unreachable(missing)
  if down:
    servers = ', '.join(f'{server} ({why})' for server, why in down.items())
    raise common.MissingManualFileError(
        f'{name}: cannot reach {servers} to download its files. Download them where there is '
        'a network and put them in --manual_dir, then run the same command with '
        '--manual_dir:\n  ' + '\n  '.join(describe(f, manual_dir) for f in missing))
