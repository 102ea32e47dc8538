"""Classifies image files or folders with a trained workdir or an exported model -> CSV.

  python -m adafilter_jax.inference.predict runs/demo/adafilter photos/ a.jpg --out predictions.csv
  python -m adafilter_jax.inference.predict exported/adafilter photos/ --top_k 3

One row per readable image: ``path``, ``class_1, prob_1 ... class_k, prob_k`` and, for
a gated model, ``fine_tuned`` (the image's fraction of filters its gate sent through the
fine-tuned copy F, over all gated layers) and ``fine_tuned_<stage>`` per stage. Images
are read and cropped as the eval split is (short side to resize_size, centre crop);
an unreadable file is named on stderr and skipped.
"""
import argparse
import csv
import os
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tqdm

from adafilter_jax.data import logs
from adafilter_jax.data import cli_errors
from adafilter_jax.inference import serving

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.ppm', '.tif', '.tiff', '.webp')


def list_images(inputs: Sequence[str]) -> List[str]:
  """Files as given; folders walked for image extensions, sorted."""
  paths = []
  for p in inputs:
    if os.path.isdir(p):
      found = [os.path.join(root, f) for root, _, files in os.walk(p) for f in files
               if f.lower().endswith(IMAGE_EXTENSIONS)]
      paths += sorted(found)
    elif os.path.isfile(p):
      paths.append(p)
    else:
      raise FileNotFoundError(f'{p}: no such file or folder')
  return paths


class _Workdir:
  """A training workdir's checkpoint behind the exported model's interface."""

  def __init__(self, workdir: str, which: str):
    import jax  # pylint: disable=g-import-not-at-top
    from adafilter_jax.inference import restore as inference  # pylint: disable=g-import-not-at-top
    r = inference.restore(workdir, which)
    infer = inference.make_infer_fn(r.model, r.config.data, r.layers)
    self._fn = jax.jit(lambda images: infer(r.variables, images))
    self.classes = inference.class_names(r.config, r.meta['num_classes'])
    self.meta = {'image_size': r.config.data.image_size,
                 'resize_size': r.config.data.resize_size,
                 'stages': [s for s, _ in inference.stages(r.layers)]}

  def preprocess_one(self, image) -> np.ndarray:
    return serving.crop(image, self.meta['image_size'], self.meta['resize_size'])

  def __call__(self, images):
    return serving.with_probs(self._fn(images))


def load_model(source: str, which: str = 'best'):
  """An exported model directory (model.json) or a training workdir (config.json)."""
  if os.path.isfile(os.path.join(source, serving.META)):
    return serving.load(source)
  return _Workdir(source, which)


def _batches(model, paths, batch_size) -> Iterator[Tuple[List[str], np.ndarray, int]]:
  """(names, images, files tried) in batches of `batch_size` readable images; unreadable
  ones named and skipped."""
  names, images, tried = [], [], 0
  for path in paths:
    tried += 1
    try:
      images.append(model.preprocess_one(path))
      names.append(path)
    except serving.UnreadableImage as e:  # its message names the file
      tqdm.tqdm.write(f'skipped {e}', file=sys.stderr)
    except OSError as e:  # not readable at all: permissions, a folder named .png
      tqdm.tqdm.write(f'skipped {path}: {e.strerror or e}', file=sys.stderr)
    if len(images) == batch_size:
      yield names, np.stack(images), tried
      names, images, tried = [], [], 0
  if tried:  # the last images, or only unreadable files since the last batch
    yield names, np.stack(images) if images else None, tried


def predict(model, paths: Sequence[str], batch_size: int = 32, top_k: int = 5,
            progress: bool = True) -> Iterator[Dict[str, object]]:
  """One row (dict) per readable image, in the order of `paths`."""
  top_k = min(top_k, len(model.classes))
  stages = model.meta.get('stages', [])
  with tqdm.tqdm(total=len(paths), unit='img', disable=not progress) as bar:
    for names, images, tried in _batches(model, paths, batch_size):
      n = len(names)
      if not n:
        bar.update(tried)
        continue
      # Pad the last batch: one compiled shape for every batch.
      padded = np.concatenate([images, np.zeros((batch_size - n,) + images.shape[1:],
                                                np.uint8)]) if n < batch_size else images
      out = {k: v[:n] for k, v in model(padded).items()}
      for i, name in enumerate(names):
        yield _row(name, out, i, model.classes, top_k, stages)
      bar.update(tried)


def _row(name, out, i, classes, top_k, stages) -> Dict[str, object]:
  row: Dict[str, object] = {'path': name}
  for rank, c in enumerate(np.argsort(-out['probs'][i], kind='stable')[:top_k], 1):
    row[f'class_{rank}'], row[f'prob_{rank}'] = classes[c], float(out['probs'][i, c])
  if 'fraction' in out:
    row['fine_tuned'] = float(out['fraction'][i])
    row.update({f'fine_tuned_{s}': float(out['stage_fraction'][i, j])
                for j, s in enumerate(stages)})
  return row


def write_csv(rows, out_path: str) -> int:
  """Writes the rows (header from the first); returns how many."""
  n, writer = 0, None
  with open(out_path, 'w', newline='') as f:
    for row in rows:
      if writer is None:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
      writer.writerow(row)
      n += 1
  return n


def main(argv: Optional[Sequence[str]] = None) -> int:
  p = argparse.ArgumentParser(prog='adafilter-predict', description=__doc__.split('\n')[0])
  p.add_argument('model', help='a training workdir or an exported model directory')
  p.add_argument('inputs', nargs='+', help='image files or folders')
  p.add_argument('--out', default='predictions.csv', help='CSV to write')
  p.add_argument('--checkpoint', choices=('best', 'latest'), default='best',
                 help='for a workdir: which checkpoint')
  p.add_argument('--batch_size', type=int, default=32)
  p.add_argument('--top_k', type=int, default=5)
  args = p.parse_args(argv)
  logs.quiet_libraries()
  try:
    paths = list_images(args.inputs)
    model = load_model(args.model, args.checkpoint)
  except cli_errors.USER_ERRORS as e:
    return cli_errors.report(e)
  n = write_csv(predict(model, paths, args.batch_size, args.top_k), args.out)
  skipped = f' ({len(paths) - n} unreadable, named above)' if n < len(paths) else ''
  print(f'{n} of {len(paths)} images classified{skipped} -> {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
