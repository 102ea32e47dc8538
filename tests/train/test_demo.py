"""The README's first command, configs/demo.py, in a reduced form (one epoch a stage,
tiny model): pretrain on digits 0-4, save, transfer with both methods, print both."""
import os
import sys

from adafilter_jax.apps.demos import digits as demo
from tests.train import tiny

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
from configs import demo as demo_config  # pylint: disable=g-import-not-at-top


def test_demo_reduced(tmp_path, capsys):
  config = demo_config.get_config()
  small = tiny.config()
  # The tiny test config's shapes and schedule: its compiled steps come from the cache.
  config.model, config.adafilter, config.optim = small.model, small.adafilter, small.optim
  config.demo.source_batch_size, config.demo.source_lr = small.batch_size, small.optim.lr
  config.demo.source_decay_epochs = small.optim.decay_epochs
  config.data.data_dir, config.data.image_size, config.data.resize_size = tiny.DATA_DIR, 16, 16
  config.num_epochs, config.demo.source_epochs = 1, 1
  config.progress_bar = False
  summaries = demo.run(config, str(tmp_path))
  assert set(summaries) == {'adafilter', 'finetune'}
  assert os.path.isdir(tmp_path / 'source_weights')
  out = capsys.readouterr().out
  assert 'adafilter' in out and 'finetune' in out and 'eval top-1' in out
  for s in summaries.values():
    assert 0.0 <= s['final_eval_top1'] <= 1.0
