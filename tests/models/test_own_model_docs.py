"""docs/own_model.md's example runs as written, and a user's weights read back alike from
each format `weights/user.py` reads."""
import os
import re

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax.weights import user

DOC = os.path.join(os.path.dirname(__file__), '..', '..', 'docs', 'own_model.md')


def test_the_docs_example_runs_as_written(capsys):
  with open(DOC) as f:
    blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
  assert len(blocks) == 1
  exec(compile(blocks[0], DOC, 'exec'), {'__name__': 'docs_example'})  # pylint: disable=exec-used
  out = capsys.readouterr().out
  # ResNet-18's 20 convs, and a projection: the stem's 64 channels into a stage of 8
  assert out.count('"conv":') == 21
  losses = [float(v) for v in re.findall(r'step \d: loss ([\d.]+)', out)]
  assert len(losses) == 3 and all(np.isfinite(losses))


VARIABLES = {'params': {'Conv_0': {'kernel': np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)}},
             'batch_stats': {'BatchNorm_0': {'mean': np.ones(3, np.float32)}}}


@pytest.mark.parametrize('fmt', ['msgpack', 'safetensors', 'orbax'])
def test_read_each_format(tmp_path, fmt):
  path = str(tmp_path / f'w.{fmt}')
  if fmt == 'msgpack':
    with open(path, 'wb') as f:
      f.write(flax.serialization.msgpack_serialize(VARIABLES))
  elif fmt == 'safetensors':
    from safetensors.numpy import save_file
    save_file(flax.traverse_util.flatten_dict(VARIABLES, sep='/'), path)
  else:
    import orbax.checkpoint as ocp
    with ocp.StandardCheckpointer() as ckptr:
      ckptr.save(path, VARIABLES)
  got = user.read(path)
  jax.tree.map(np.testing.assert_array_equal, got, VARIABLES)


def test_missing_weights_and_misfits_say_what(tmp_path):
  with pytest.raises(FileNotFoundError, match=r'no model weights at .*w.npz: expected an orbax'):
    user.read(str(tmp_path / 'w.npz'))
  init = {'params': {'Conv_0': {'kernel': jnp.zeros((1, 1, 2, 4))}, 'gate': {'b': jnp.zeros(1)}}}
  with pytest.raises(ValueError, match=r"shape mismatch: params/Conv_0/kernel: model "
                                       r"\(1, 1, 2, 4\) vs weights \(1, 1, 2, 3\)"):
    user.into(init, VARIABLES, plan=())
