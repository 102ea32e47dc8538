"""Weights without torch: a .safetensors state_dict converts to exactly what the .pth does;
a truncated file and a download with the wrong hash fail with their message, leaving nothing."""
import hashlib
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from safetensors.numpy import save_file
import torch

from adafilter_jax.weights import convert
from adafilter_jax.weights import pretrained
from tests.models import conversion

_NO_TORCH = r'''
import sys
sys.modules['torch'] = None  # any import of torch now fails
from absl import app
from adafilter_jax.weights import convert
sys.argv = ['convert', sys.argv[1], sys.argv[2], '--arch', 'resnet18']
convert.run()
'''


def test_safetensors_equals_pth_without_torch(tmp_path):
  sd = conversion.resnet18_state_dict()
  torch.save(sd, tmp_path / 'r18.pth')
  save_file({k: v.numpy() for k, v in sd.items()}, str(tmp_path / 'r18.safetensors'))
  proc = subprocess.run([sys.executable, '-c', _NO_TORCH, str(tmp_path / 'r18.safetensors'),
                         str(tmp_path / 'from_st')], capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'wrote resnet18' in proc.stdout
  from_pth = convert.torchvision_to_flax(convert.load_state_dict(str(tmp_path / 'r18.pth')),
                                         'resnet18')
  jax.tree.map(np.testing.assert_array_equal, pretrained.load(str(tmp_path / 'from_st')), from_pth)
  # and both equal torch's own tensors, laid out by hand
  np.testing.assert_array_equal(from_pth['params']['conv1']['conv']['kernel'],
                                sd['conv1.weight'].numpy().transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(from_pth['batch_stats']['layer2_0']['downsample']['bn']['var'],
                                sd['layer2.0.downsample.1.running_var'].numpy())


def test_truncated_safetensors_fails_naming_the_file(tmp_path):
  path = tmp_path / 'r18.safetensors'
  save_file({k: v.numpy() for k, v in conversion.resnet18_state_dict().items()}, str(path))
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  with pytest.raises(ValueError, match=r'r18.safetensors is not a complete .safetensors file'):
    convert.load_state_dict(str(path))
  out = subprocess.run([sys.executable, '-m', 'adafilter_jax.weights.convert', str(path),
                        str(tmp_path / 'dst'), '--arch', 'resnet18'], capture_output=True,
                       text=True, timeout=300)
  assert out.returncode != 0 and 'truncated or corrupt' in out.stderr
  assert not (tmp_path / 'dst').exists()


def test_download_checks_the_published_hash(tmp_path):
  payload = os.urandom(3000)
  good = hashlib.sha256(payload).hexdigest()[:8]
  src = tmp_path / 'src'
  src.mkdir()
  (src / f'resnet18-{good}.pth').write_bytes(payload)
  (src / 'resnet18-00000000.pth').write_bytes(payload)
  dest = tmp_path / 'weights'
  path = convert.download((src / f'resnet18-{good}.pth').as_uri(), str(dest))
  assert open(path, 'rb').read() == payload
  with pytest.raises(ValueError, match=r'resnet18-00000000.pth: SHA-256 [0-9a-f]{64} does not '
                                       r'start with the published 00000000'):
    convert.download((src / 'resnet18-00000000.pth').as_uri(), str(dest))
  assert sorted(os.listdir(dest)) == [f'resnet18-{good}.pth']  # nothing half-written
  with pytest.raises(ValueError, match='no SHA-256 prefix'):
    convert.download((src / 'resnet18-00000000.pth').as_uri().replace('-00000000', ''), str(dest))
