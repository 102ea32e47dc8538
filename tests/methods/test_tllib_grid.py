"""TLlib's protocol end to end: the new baselines at two sampling rates through the
experiments grid and the real loop (its own file: the test command's workers take whole
files, and this is the longest of the grid's tests)."""
import json
import os

import jax
import numpy as np

from adafilter_jax import models
from adafilter_jax.apps import experiments
from adafilter_jax.data import pipeline
from adafilter_jax.train import steps
from adafilter_jax.weights import pretrained
from tests.methods import tiny
from tests import tiny_config


def test_new_baselines_at_two_sampling_rates_end_to_end(tmp_path):
  """The real loop on the digits: fine-tuning (TLlib's ERM), Co-Tuning and Auto-RGN
  (its rates in the optimizer state, checkpointed) from one tiny pretrained network (with
  a 1000-class head), at 50 and 100 % of the training images, 2 seeds; the table with
  mean ± std. Co-Tuning's relationship is
  the pretrained network's mean softmax over each class's sampled training images."""
  net = models.backbone('resnet10', 1000, width=4)
  weights = tiny.variables(net, np.zeros((1, 16, 16, 3), np.float32), seed=5, train=False)
  weights_dir = pretrained.save(weights, str(tmp_path / 'weights'))
  root = str(tmp_path / 'runs')
  overrides = ['num_epochs=1', 'model.arch=resnet10', 'model.width=4', 'data.image_size=16',
               'data.resize_size=16', f'data.data_dir={tiny_config.DATA_DIR}',
               'optim.decay_epochs=(1,)', 'progress_bar=False', 'eval_batch_size=256',
               'batch_size=10', f'pretrained={weights_dir}']
  recipes = ['erm', 'co_tuning', 'auto_rgn']
  assert experiments.main(['--datasets', 'demo', '--methods', ','.join(recipes),
                           '--seeds', '0,1', '--sample_rates', '50,100', '--root', root] +
                          sum([['--set', o] for o in overrides], [])) == 0
  for rate, epochs, last_step in ((50, 2, 4), (100, 1, 5)):  # 25 or 50 images, batch 10
    for recipe in recipes:
      for seed in (0, 1):
        workdir = experiments.workdir_for(root, 'demo', recipe, seed, rate)
        assert experiments.read_summary(workdir)['epochs'] == epochs
        with open(os.path.join(workdir, 'metrics.jsonl')) as f:
          assert json.loads(f.readlines()[-1])['step'] == last_step
  with open(os.path.join(root, 'table.md')) as f:
    md = f.read()
  assert '| method | demo 50% | demo 100% |' in md
  for recipe in recipes:
    row = next(line for line in md.splitlines() if line.startswith(f'| {recipe} |'))
    assert row.count('±') == 2, row

  config = experiments.make_config('demo', 'co_tuning', 0, root, overrides, sample_rate=50)
  batches = list(pipeline.make_eval_iter(config.data, global_batch_size=256, split='train'))
  images = np.concatenate([b['image'][b['mask']] for b in batches])
  labels = np.concatenate([b['label'][b['mask']] for b in batches])
  assert len(labels) == 25
  logits, _ = jax.jit(lambda x: net.apply(weights, steps.normalize(x, config.data)))(images)
  z = np.asarray(logits, np.float64)
  probs = np.exp(z - z.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  hand = np.stack([probs[labels == c].mean(0) for c in range(5)])
  workdir = experiments.workdir_for(root, 'demo', 'co_tuning', 0, 50)
  with np.load(os.path.join(workdir, 'method_constants.npz')) as f:
    np.testing.assert_allclose(f['relationship'], hand, rtol=1e-4, atol=1e-7)
