"""Finished tiny runs shared by the after-training tests (evaluate, predict, export)."""
import pytest

from adafilter_jax.train.loop import train_and_evaluate
from tests import tiny_config


def _run(tmp_path_factory, method, **overrides):
  workdir = str(tmp_path_factory.mktemp(method) / 'run')
  config = tiny_config.config(method, epochs=2, **overrides)
  state = train_and_evaluate(config, workdir)
  return workdir, config, state


@pytest.fixture(scope='session')
def finetune_run(tmp_path_factory):
  """(workdir, config, final host state) of a finished 2-epoch plain fine-tuning run."""
  return _run(tmp_path_factory, 'finetune')


@pytest.fixture(scope='session')
def adafilter_run(tmp_path_factory):
  """The same for AdaFilter, gating layer4 and the stem (two stages in the gate stats)."""
  return _run(tmp_path_factory, 'adafilter', **{'adafilter.gated_layers': 'conv1,layer4'})
