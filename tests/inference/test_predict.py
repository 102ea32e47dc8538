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
from tests.inference import reference


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


class _Constant:
  """A model behind predict's interface that needs no training: the reading is the point."""
  classes, meta = ['a', 'b'], {}

  def preprocess_one(self, path):
    return serving.crop(path, 16, 16)

  def __call__(self, images):
    return serving.with_probs({'logits': np.zeros((len(images), 2), np.float32)})


def test_unreadable_files_are_named_by_their_path(tmp_path, capsys):
  """An empty file, a text file named .png and a truncated PNG: serving's preprocessing
  names the file and what is wrong (not PIL's '<_io.BytesIO object at 0x...>'), and
  predict skips each, naming it, and classifies the good image."""
  good = tmp_path / 'good.png'
  noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
  Image.fromarray(noise).save(good)
  bad = {'empty.png': b'', 'notes.png': b'not an image, only its name',
         'truncated.png': good.read_bytes()[:len(good.read_bytes()) // 2]}
  for name, data in bad.items():
    (tmp_path / name).write_bytes(data)
  for name in bad:
    with pytest.raises(ValueError) as e:
      serving.crop(str(tmp_path / name), 16, 16)
    assert str(e.value).startswith(f'{tmp_path / name}: cannot read it as an image'), e.value
    assert 'BytesIO' not in str(e.value)
  assert 'truncated' in str(pytest.raises(ValueError, serving.crop, str(tmp_path / 'truncated.png'),
                                          16, 16).value)
  paths = [str(tmp_path / n) for n in ('empty.png', 'good.png', 'notes.png', 'truncated.png')]
  rows = list(predict.predict(_Constant(), paths, batch_size=2, top_k=1, progress=False))
  assert [r['path'] for r in rows] == [str(good)]
  err = capsys.readouterr().err
  for name in bad:
    assert f'skipped {tmp_path / name}: cannot read it as an image' in err
  assert 'BytesIO' not in err
