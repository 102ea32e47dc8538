"""DELTA's job on the offline digits: the probe run and the channel weights first, in the
run's workdir and once, then the regularised fine-tuning reading them."""
import json
import os

import ml_collections
import numpy as np

from adafilter_jax.apps import jobs
from adafilter_jax.systems import delta_attention
from adafilter_jax.train import loop
from tests import tiny_config


def _config():
  config = tiny_config.config('delta')
  with config.unlocked():
    config.delta = ml_collections.ConfigDict(dict(
        alpha=0.01, beta=0.01, attention='', probe_epochs=1, probe_lr=0.05,
        probe_decay_epochs=(), probe_weight_decay=1e-4, attention_images=12))
  return config


def test_probe_then_weights_then_fine_tuning_in_one_workdir(tmp_path, monkeypatch):
  workdir = str(tmp_path / 'run')
  jobs.runner('delta')(_config(), workdir)

  path = os.path.join(workdir, delta_attention.ATTENTION)
  with open(os.path.join(workdir, delta_attention.PROBE_DIR, 'config.json')) as f:
    probe = json.load(f)
  assert probe['method'] == 'linear_probe' and probe['num_epochs'] == 1
  table = np.load(path)
  taps = [f'layer{i}_0/conv2/conv' for i in (1, 2, 3, 4)]  # each stage's last block
  assert sorted(table.files) == sorted(taps + [f'{t}:increase' for t in taps])
  for tap, channels in zip(taps, (8, 16, 32, 64)):  # tiny width 8
    assert table[tap].shape == (channels,)
    np.testing.assert_allclose(table[tap].sum(), 1.0, rtol=1e-5)
    # the most harmful channel to zero gets the largest weight
    assert np.argmax(table[tap]) == np.argmax(table[f'{tap}:increase'])
  with open(os.path.join(workdir, 'config.json')) as f:
    assert json.load(f)['delta']['attention'] == path
  with open(os.path.join(workdir, 'summary.json')) as f:
    assert json.load(f)['epochs'] == 1

  def no_training(*args, **kwargs):
    raise AssertionError('the probe ran again')

  monkeypatch.setattr(loop, 'train_and_evaluate', no_training)
  assert delta_attention.prepare(_config(), workdir).delta.attention == path
