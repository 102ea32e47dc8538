"""Weights from the Hugging Face Hub without torch, through huggingface_hub's own code
against a fake Hub on 127.0.0.1 (tests/weights/fake_hub.py): fetched into the cache, SHA-256
checked, converted once on first use, read offline; each failure named."""
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
import safetensors.numpy

from adafilter_jax.train import loop
from adafilter_jax.train import state as state_lib
from adafilter_jax.weights import hub
from adafilter_jax.weights import pretrained
from adafilter_jax.weights import store
from tests.weights import fake_hub
from tests.models import conversion
from tests import tiny_config

SPEC = 'hf-hub:timm/resnet18.tv_in1k'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def weights():
  """A torchvision-keyed ResNet-18 state_dict (10 classes) and its safetensors bytes."""
  sd = {k: v.numpy() for k, v in conversion.resnet18_state_dict().items()}
  data = safetensors.numpy.save(sd)
  return sd, data


@pytest.fixture
def env(monkeypatch, tmp_path):
  """An empty Hugging Face cache and weights/ folder in tmp_path, online; returns the
  function that points HF_ENDPOINT at a fake Hub."""
  from huggingface_hub import constants  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path / 'hf_cache'))
  monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
  monkeypatch.chdir(tmp_path)
  return lambda server: monkeypatch.setenv('HF_ENDPOINT', server.url)


def _by_hand(sd):
  """A few leaves laid out by hand from the torch tensors (OIHW -> HWIO, [out,in] -> [in,out])."""
  return {('params', 'conv1', 'conv', 'kernel'): sd['conv1.weight'].transpose(2, 3, 1, 0),
          ('params', 'layer3_1', 'conv2', 'bn', 'scale'): sd['layer3.1.bn2.weight'],
          ('batch_stats', 'layer2_0', 'downsample', 'bn', 'var'):
              sd['layer2.0.downsample.1.running_var'],
          ('params', 'fc', 'kernel'): sd['fc.weight'].T}


def _assert_matches(variables, sd):
  for path, want in _by_hand(sd).items():
    node = variables
    for key in path:
      node = node[key]
    np.testing.assert_array_equal(node, want, err_msg='/'.join(path))


def test_fetched_checked_converted_once_then_read_offline(env, weights, monkeypatch):
  sd, data = weights
  with fake_hub.serving({'timm/resnet18.tv_in1k': {'model.safetensors': data}}) as server:
    env(server)
    config = tiny_config.config(pretrained=SPEC, arch='resnet18')  # the Hub's weights' arch
    first = state_lib.load_pretrained(config)['backbone']
    assert ('GET', '/timm/resnet18.tv_in1k/resolve/main/model.safetensors') in server.requests
    asked = len(server.requests)
    again = pretrained.load(SPEC, 'resnet18')
    assert len(server.requests) == asked  # converted once: the Hub is not asked again
  _assert_matches(first, sd)
  jax.tree.map(np.testing.assert_array_equal, again, first)
  with open(os.path.join('weights', 'hf-hub', 'timm--resnet18.tv_in1k', 'source.json')) as f:
    source = json.load(f)
  assert source['sha256'] == hashlib.sha256(data).hexdigest()
  assert (source['commit'], source['arch']) == (fake_hub.COMMIT, 'resnet18')

  # The Hub is gone; offline, a new conversion reads the cache (checked against its ETag).
  shutil.rmtree('weights')
  from huggingface_hub import constants  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
  jax.tree.map(np.testing.assert_array_equal, pretrained.load(SPEC), first)


def test_each_failure_is_named(env, weights, monkeypatch):
  _, data = weights
  repos = {'timm/resnet18.tv_in1k': {'model.safetensors': data},
           'timm/resnet34.tv_in1k': {'pytorch_model.bin': b'not read'},
           'timm/resnet50.tv_in1k': {'model.safetensors': data},
           'someone/resnet50.mine': {'model.safetensors': data}}  # ResNet-18 weights inside
  with fake_hub.serving(repos) as server:
    env(server)
    with pytest.raises(ValueError, match="no repository 'timm/resnet18.tv_in1kk' on the Hub"):
      hub.fetch(SPEC + 'k')
    with pytest.raises(FileNotFoundError, match='timm/resnet34.tv_in1k has no model.safetensors'):
      hub.fetch('hf-hub:timm/resnet34.tv_in1k')
    with pytest.raises(ValueError, match='not a Hub repo id'):
      pretrained.load('hf-hub:resnet50')

    server.corrupt.add('timm/resnet50.tv_in1k')
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match=f'does not match the {sha} the Hub reports'):
      hub.fetch('hf-hub:timm/resnet50.tv_in1k')
    assert not glob.glob(os.path.join('hf_cache', '*resnet50*', 'blobs', '*'))  # deleted

    asked = len(server.requests)
    with pytest.raises(ValueError, match='holds resnet18 weights, but the model is resnet50'):
      state_lib.load_pretrained(tiny_config.config(pretrained=SPEC, **{'model.arch': 'resnet50'}))
    assert len(server.requests) == asked  # refused before anything was fetched
    with pytest.raises(ValueError,
                       match=r'(?s)does not fit resnet50:\n  shape mismatch: params/fc.*and \d+ more'):
      pretrained.load('hf-hub:someone/resnet50.mine')
    assert not os.path.exists(os.path.join('weights', 'hf-hub', 'someone--resnet50.mine'))

  from huggingface_hub import constants  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
  with pytest.raises(FileNotFoundError, match='HF_HUB_OFFLINE is set and timm/resnet101'):
    pretrained.load('hf-hub:timm/resnet101.tv_in1k')


_NO_TORCH = r'''
import sys
sys.modules['torch'] = None  # any import of torch now fails
from adafilter_jax.weights import convert
sys.argv = ['convert', sys.argv[1], sys.argv[2]]
convert.run()
'''


def test_convert_command_without_torch(weights, tmp_path):
  sd, data = weights
  with fake_hub.serving({'timm/resnet18.tv_in1k': {'model.safetensors': data}}) as server:
    env = {**os.environ, 'HF_ENDPOINT': server.url, 'HF_HUB_CACHE': str(tmp_path / 'cache'),
           'PYTHONPATH': os.getcwd()}
    proc = subprocess.run([sys.executable, '-c', _NO_TORCH, SPEC, str(tmp_path / 'r18')],
                          capture_output=True, text=True, timeout=300, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f'SHA-256 {hashlib.sha256(data).hexdigest()} checked' in proc.stdout
  assert 'wrote resnet18 (' in proc.stdout
  _assert_matches(store.read(str(tmp_path / 'r18')), sd)


def _closed_port() -> int:
  """A loopback port nothing listens on: a connection is refused at once."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_unreachable_hub_is_one_line_saying_what_to_do_and_leaves_nothing(env, monkeypatch,
                                                                           tmp_path):
  monkeypatch.setenv('HF_ENDPOINT', f'http://127.0.0.1:{_closed_port()}')
  with pytest.raises(OSError) as error:
    pretrained.load(SPEC)
  message = str(error.value)
  assert '\n' not in message, message
  for says in ('the Hugging Face Hub', 'cannot be reached', 'Connection refused',
               '/timm/resnet18.tv_in1k/resolve/main/model.safetensors',  # the file's URL
               'python -m adafilter_jax.weights.convert model.safetensors weights/resnet18 '
               '--arch resnet18', 'HF_HUB_OFFLINE=1'):
    assert says in message, (says, message)

  workdir = tmp_path / 'run'
  with pytest.raises(OSError, match='cannot be reached'):
    loop.train_and_evaluate(tiny_config.config(pretrained=SPEC, arch='resnet18'), str(workdir))
  assert not workdir.exists()  # no empty workdir, no empty checkpoints/ in it
  assert not os.path.exists('weights')

  proc = subprocess.run([sys.executable, '-m', 'adafilter_jax.weights.convert', SPEC,
                         str(tmp_path / 'r18')], capture_output=True, text=True, timeout=300,
                        env={**os.environ, 'PYTHONPATH': ROOT})
  assert proc.returncode == 1, proc.stderr[-3000:]
  lines = proc.stderr.strip().splitlines()
  assert lines[0].startswith(f'error: {SPEC}: the Hugging Face Hub') and len(lines) == 2, lines
  assert not (tmp_path / 'r18').exists()
