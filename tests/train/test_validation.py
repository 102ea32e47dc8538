"""config.data.val_fraction: a seeded per-class split of the train images; the training
stream never reads a held-out image, the checkpoint is chosen on the held-out images only,
and the eval split is read once, at the end."""
import collections
import json
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from adafilter_jax.data import pipeline, validation
from adafilter_jax.apps import jobs
from adafilter_jax.inference import evaluate
from tests import tiny_config


def test_heldout_indices_per_class():
  labels = np.repeat(np.arange(4), [10, 5, 2, 1])
  held = validation.heldout_indices(labels, 0.2, seed=0)
  assert collections.Counter(labels[held].tolist()) == {0: 2, 1: 1, 2: 1}  # >= 1, never all
  assert len(set(held.tolist())) == len(held) and np.all(np.diff(held) > 0)
  np.testing.assert_array_equal(held, validation.heldout_indices(labels, 0.2, seed=0))
  assert not np.array_equal(validation.heldout_indices(labels, 0.5, seed=0),
                            validation.heldout_indices(labels, 0.5, seed=1))
  assert len(validation.heldout_indices(labels, 0.0, seed=0)) == 0
  with pytest.raises(ValueError, match='val_fraction=1.0'):
    validation.heldout_indices(labels, 1.0, seed=0)


class _Reads:
  """Records every example the data sources of the run read: (who opened it, split, index)."""

  def __init__(self, monkeypatch):
    self.log, self.who = [], 'other'
    builder_cls = type(pipeline.get_builder(tiny_config.config().data))
    make_source = builder_cls.as_data_source
    reads = self

    class Recording:
      def __init__(self, source, split, who):
        self.source, self.split, self.who = source, split, who

      def __len__(self):
        return len(self.source)

      def __getitem__(self, i):
        reads.log.append((self.who, self.split, int(i)))
        return self.source[i]

    monkeypatch.setattr(builder_cls, 'as_data_source', lambda b, split, **kw: Recording(
        make_source(b, split, **kw), split, reads.who))
    for name in ('make_train_iter', 'make_eval_iter'):
      monkeypatch.setattr(pipeline, name, self._tagging(getattr(pipeline, name), name))

  def _tagging(self, make, name):
    def wrapped(*args, **kwargs):
      self.who = name
      try:
        return make(*args, **kwargs)
      finally:
        self.who = 'other'
    return wrapped


def test_val_fraction_run(tmp_path, monkeypatch):
  reads = _Reads(monkeypatch)
  workdir = str(tmp_path / 'run')
  # The application's job: training, then the test pass.
  jobs.train(tiny_config.config('finetune', epochs=3, **{'data.val_fraction': 0.2}), workdir)
  by = collections.defaultdict(set)
  for who, split, i in reads.log:
    by[who, split].add(i)
  trained, held = by['make_train_iter', 'train'], by['make_eval_iter', 'train']
  assert not trained & held and trained | held == set(range(50))
  source = tfds.builder_from_directory(pipeline.get_builder(tiny_config.config().data).data_dir)
  labels = [source.as_data_source('train')[i]['label'] for i in sorted(held)]
  assert collections.Counter(labels) == {c: 2 for c in range(5)}  # 20 % of 10 per class
  assert not by['make_train_iter', 'test']
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  # 40 train images, batch 10: 4 steps an epoch; each epoch evaluated on the 10 held out
  assert [r['step'] for r in records] == [4, 8, 12]
  assert {r['eval_split'] for r in records} == {'heldout'}
  vals = [r['eval_top1'] for r in records]
  assert summary['best_epoch'] == int(np.argmax(vals)) + 1 and summary['best_eval_top1'] == max(vals)
  assert summary['test_epoch'] == summary['best_epoch'] and summary['test_split'] == 'test'
  # the test split: read in one pass (846 images), after training, with the chosen checkpoint
  test_reads = [i for who, split, i in reads.log if split == 'test']
  assert sorted(test_reads) == list(range(846))
  assert reads.log.index(next(r for r in reads.log if r[1] == 'test')) > max(
      k for k, r in enumerate(reads.log) if r[0] == 'make_train_iter')
  assert os.path.isdir(os.path.join(workdir, 'eval', f'best_step{4 * summary["best_epoch"]}_test'))
  # --split heldout: the held-out images again, with the checkpoint chosen on them.
  again = evaluate.evaluate_workdir(workdir, 'best', 'heldout', out_dir=str(tmp_path / 'again'))
  assert (again['split'], again['num_images']) == ('heldout', 10)
  assert again['eval_top1'] == summary['best_eval_top1']
