"""Export: the serialized StableHLO, reloaded in a fresh process that never imports the model
code, gives the model's logits at two batch sizes, for plain fine-tuning and AdaFilter (in
the fused and the two-branch forms)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('flatbuffers')  # jax.export's serialization needs it (requirements.txt)

from adafilter_jax.inference import export  # noqa: E402
from adafilter_jax.inference import restore as inference
from tests.inference import reference  # noqa: E402

_LOADER = r'''
import json, sys
import numpy as np
from adafilter_jax.inference import serving
images = np.load(sys.argv[1])
out = {}
for d in sys.argv[2:]:
  model = serving.load(d)
  out[d] = {b: {k: v.tolist() for k, v in model(images[:b]).items()} for b in (1, 5)}
  out[d]['classes'] = model.classes
assert 'adafilter_jax.models' not in sys.modules and 'flax' not in sys.modules, sorted(sys.modules)
print(json.dumps(out))
'''


def test_exported_models_match_the_model(finetune_run, adafilter_run, tmp_path):
  images = np.random.RandomState(0).randint(0, 256, (5, 16, 16, 3)).astype(np.uint8)
  np.save(tmp_path / 'images.npy', images)
  dirs, refs = [], {}
  # A plain model has no gated layer: its two forms are one program, exported once.
  for (workdir, _, _), method, forms in ((finetune_run, 'finetune', ('two_branch',)),
                                         (adafilter_run, 'adafilter', ('two_branch', 'fused'))):
    ref = reference.model_outputs(inference.restore(workdir, 'best'), images)
    for form in forms:
      d = str(tmp_path / f'{method}_{form}')
      export.export_workdir(workdir, d, 'best', form)
      dirs.append(d)
      refs[d] = ref
  proc = subprocess.run([sys.executable, '-c', _LOADER, str(tmp_path / 'images.npy')] + dirs,
                        capture_output=True, text=True, timeout=300, cwd=os.getcwd())
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = json.loads(proc.stdout.strip().splitlines()[-1])
  for d in dirs:
    assert got[d]['classes'] == ['5', '6', '7', '8', '9']  # the target digits' names
    for b in ('1', '5'):
      out = got[d][b]
      np.testing.assert_allclose(out['logits'], refs[d]['logits'][:int(b)], atol=1e-5, err_msg=d)
      np.testing.assert_allclose(out['probs'], refs[d]['probs'][:int(b)], atol=1e-6, err_msg=d)
      if 'adafilter' in d:
        # 0/1 decisions: equal up to the float32 rounding of a mean
        np.testing.assert_allclose(out['fraction'], refs[d]['fraction'][:int(b)], atol=1e-6)
        # the stem and layer4 are gated: a stage column each, the stem's own gate
        stem = refs[d]['gates']['conv1'].mean(-1)[:int(b)]
        np.testing.assert_allclose(np.asarray(out['stage_fraction'])[:, 0], stem, atol=1e-6)
      else:
        assert 'fraction' not in out
  with open(os.path.join(dirs[-1], 'model.json')) as f:
    meta = json.load(f)
  assert meta['stages'] == ['stem', 'layer4'] and meta['form'] == 'fused'
  assert meta['platforms'] == ['cpu', 'cuda']  # lowered for a GPU too, here without one
  assert (meta['image_size'], meta['resize_size']) == (16, 16)


def test_export_errors(finetune_run, tmp_path):
  workdir, _, _ = finetune_run
  with pytest.raises(ValueError, match='form must be one of'):
    export.export_workdir(workdir, str(tmp_path / 'x'), form='fast')
  with pytest.raises(FileNotFoundError, match='is .* an exported model'):
    from adafilter_jax.inference import serving
    serving.load(str(tmp_path))


def test_export_into_a_folder_with_files_needs_overwrite(finetune_run, tmp_path, capsys):
  """An existing folder's files are not replaced silently: one line, exit 1, the folder as
  it was; with --overwrite the export replaces them."""
  workdir, _, _ = finetune_run
  out = tmp_path / 'exported'
  out.mkdir()
  (out / 'model.json').write_text('mine')
  assert export.main([workdir, str(out)]) == 1
  err = capsys.readouterr().err
  assert f'{out} already holds model.json' in err and '--overwrite' in err, err
  assert sorted(os.listdir(out)) == ['model.json'] and (out / 'model.json').read_text() == 'mine'
  assert export.main([workdir, str(out), '--overwrite']) == 0
  with open(out / 'model.json') as f:
    assert json.load(f)['method'] == 'finetune'
