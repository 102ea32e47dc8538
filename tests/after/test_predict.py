"""Predict: a folder with a corrupt file among the images -> a CSV row per good image that
matches the model's own outputs, the bad file named and skipped; the same from an export."""
import csv

import numpy as np
import pytest
from PIL import Image

from adafilter_jax.inference import restore as inference
from adafilter_jax.inference import predict
from adafilter_jax.inference import serving
from adafilter_jax.data import pipeline
from tests.after import reference


def _folder(tmp_path, config, n=7):
  root = tmp_path / 'images'
  (root / 'sub').mkdir(parents=True)
  for i in range(n):  # stored eval images, some in a subfolder, PNG and JPEG
    image = pipeline.get_eval_example(config.data, i, crop=False)['image']
    name = root / ('sub' if i % 2 else '') / f'img{i}.{"png" if i % 3 else "jpg"}'
    Image.fromarray(image).save(name)
  (root / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not an image')
  (root / 'notes.txt').write_text('not an image name: not listed')
  return root


def _read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def _check_rows(rows, restored, paths):
  images = np.stack([serving.crop(p, 16, 16) for p in paths])
  ref = reference.model_outputs(restored, images)
  assert [r['path'] for r in rows] == paths
  for row, probs, i in zip(rows, ref['probs'], range(len(paths))):
    order = np.argsort(-probs)[:3]
    assert [row[f'class_{k}'] for k in (1, 2, 3)] == [str(c + 5) for c in order]  # '5'..'9'
    np.testing.assert_allclose([float(row[f'prob_{k}']) for k in (1, 2, 3)], probs[order],
                               rtol=1e-5)
    if 'fraction' in ref:
      np.testing.assert_allclose(float(row['fine_tuned']), ref['fraction'][i], atol=1e-6)
      np.testing.assert_allclose(float(row['fine_tuned_layer4']),
                                 np.concatenate([g[i] for k, g in ref['gates'].items()
                                                 if k.startswith('layer4')]).mean(), atol=1e-6)


def test_predict_folder_skips_the_corrupt_file(adafilter_run, tmp_path, capsys):
  workdir, config, _ = adafilter_run
  root = _folder(tmp_path, config)
  out = tmp_path / 'pred.csv'
  assert predict.main([workdir, str(root), '--out', str(out), '--batch_size', '3',
                       '--top_k', '3']) == 0
  err = capsys.readouterr()
  assert 'skipped ' + str(root / 'broken.png') in err.err
  assert '7 of 8 images classified (1 unreadable' in err.out
  rows = _read(out)
  good = predict.list_images([str(root)])
  good.remove(str(root / 'broken.png'))
  assert list(rows[0]) == ['path', 'class_1', 'prob_1', 'class_2', 'prob_2', 'class_3', 'prob_3',
                           'fine_tuned', 'fine_tuned_stem', 'fine_tuned_layer4']
  _check_rows(rows, inference.restore(workdir, 'best'), good)


def test_predict_from_an_export(finetune_run, tmp_path):
  pytest.importorskip('flatbuffers')
  from adafilter_jax.inference import export  # pylint: disable=g-import-not-at-top
  workdir, config, _ = finetune_run
  root = _folder(tmp_path, config, n=4)
  export.export_workdir(workdir, str(tmp_path / 'exported'))
  out = tmp_path / 'pred.csv'
  files = [str(root / 'img0.jpg'), str(root / 'sub')]
  assert predict.main([str(tmp_path / 'exported'), *files, '--out', str(out),
                       '--top_k', '3', '--batch_size', '2']) == 0
  rows = _read(out)
  assert 'fine_tuned' not in rows[0]
  _check_rows(rows, inference.restore(workdir, 'best'), predict.list_images(files))


def test_missing_input_is_named(finetune_run, tmp_path, capsys):
  workdir, _, _ = finetune_run
  assert predict.main([workdir, str(tmp_path / 'nowhere')]) == 1
  assert 'nowhere: no such file or folder' in capsys.readouterr().err
