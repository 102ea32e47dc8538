"""A method's stages in the training loop (LP-FT's probe, then fine-tuning): the run
resumes across the stage boundary, and inside the second stage, as if uninterrupted."""
import jax
import ml_collections
import numpy as np
import pytest

from adafilter_jax.train import loop
from tests.train import runs
from tests import tiny_config


def _config():
  config = tiny_config.config('lp_ft', epochs=2)
  with config.unlocked():
    config.lp_ft = ml_collections.ConfigDict(dict(lp_epochs=1, lp_lr=0.05,
                                                  lp_decay_epochs=()))
  return config


def test_resumed_across_the_stage_boundary_equals_uninterrupted(tmp_path, monkeypatch):
  config = _config()
  whole = loop.train_and_evaluate(config, str(tmp_path / 'whole'))
  workdir = str(tmp_path / 'resumed')
  # SIGTERM in the probe's last step (5 steps an epoch): saved at the boundary with its
  # eval pending; then in the fine-tuning stage's third step.
  for after in (4, 2):
    with monkeypatch.context() as m:
      runs.interrupt_after(m, after)
      with pytest.raises(loop.Interrupted):
        loop.train_and_evaluate(config, workdir)
  resumed = loop.train_and_evaluate(config, workdir)
  assert int(resumed.step) == int(whole.step) == 10
  for part in ('params', 'batch_stats', 'opt_state'):
    jax.tree.map(np.testing.assert_array_equal, getattr(resumed, part), getattr(whole, part))
  records = runs.records(workdir)
  assert runs.without_wall_time(records) == runs.without_wall_time(
      runs.records(str(tmp_path / 'whole')))
  assert records[0]['lr'] == pytest.approx({'network': 0.0, 'head': 0.05, 'gate': 0.0})
  assert records[1]['lr'] == pytest.approx({'network': 0.01, 'head': 0.01, 'gate': 0.1})


def test_a_probe_longer_than_the_run_is_refused_before_compiling(tmp_path, monkeypatch):
  runs.no_compile(monkeypatch)
  config = _config()
  config.lp_ft.lp_epochs = 2
  with pytest.raises(ValueError, match='num_epochs=2 leaves none'):
    loop.train_and_evaluate(config, str(tmp_path / 'run'))
