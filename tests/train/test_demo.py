"""The README's first command, configs/demo.py, in a reduced form (one epoch a stage,
tiny model): pretrain on digits 0-4, save, transfer with both methods, print both."""
import json
import math
import os
import re
import sys

from adafilter_jax.apps.demos import digits as demo
from adafilter_jax.data import pipeline
from tests import tiny_config

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
from configs import demo as demo_config  # pylint: disable=g-import-not-at-top


def test_demo_reduced(tmp_path, capsys):
  config = demo_config.get_config()
  small = tiny_config.config()
  # The tiny test config's shapes and schedule: its compiled steps come from the cache.
  config.model, config.adafilter, config.optim = small.model, small.adafilter, small.optim
  config.demo.source_batch_size, config.demo.source_lr = small.batch_size, small.optim.lr
  config.demo.source_decay_epochs = small.optim.decay_epochs
  config.data.data_dir = tiny_config.DATA_DIR
  config.data.image_size = config.data.resize_size = 16
  config.num_epochs, config.demo.source_epochs = 1, 1
  config.progress_bar = False
  summaries = demo.run(config, str(tmp_path))
  assert set(summaries) == {'adafilter', 'finetune'}
  with open(tmp_path / 'source' / 'summary.json') as f:
    source = json.load(f)
  # Learned, not just ran: 5 balanced classes give 20 % by chance. After one epoch the
  # source network is far above it (74 % here). The target runs, which start from its
  # weights, are above it by more than two standard errors of a guessing model on the
  # target's test images (25-31 % here, against 22.8 %); a one-class model is at 20 %.
  assert source['final_eval_top1'] > 0.5
  info = pipeline.load_dataset_info(config.data)
  chance = 1 / info.num_classes
  beyond_guessing = chance + 2 * math.sqrt(chance * (1 - chance) / info.num_eval)
  for s in summaries.values():
    assert s['final_eval_top1'] > beyond_guessing, (s['final_eval_top1'], beyond_guessing)
  for method in summaries:
    with open(tmp_path / method / 'config.json') as f:
      assert json.load(f)['pretrained'] == str(tmp_path / 'source_weights')
  # What it prints is what the runs recorded.
  out = capsys.readouterr().out
  assert f'eval top-1 {source["final_eval_top1"]:.2%}' in out
  for method, s in summaries.items():
    assert re.search(rf'{method}\s+eval top-1 {s["final_eval_top1"]:.2%}\s+\(best '
                     rf'{s["best_eval_top1"]:.2%} at epoch {s["best_epoch"]}\)', out), out
