"""Bad settings fail before anything loads, naming the field."""
import pytest

from adafilter_jax.systems.selective import run
from tests.selective import tiny


@pytest.mark.parametrize('field,value,match', [
    ('source_mode', 'most', 'source_mode'),
    ('bank', 'sift', 'bank'),
    ('k0', 0, 'k0'),
    ('source_weight', 1.5, 'source_weight'),
    ('bank_weights', 'weights/alexnet', 'alexnet'),
])
def test_bad_settings_are_named(field, value, match):
  config = tiny.config()
  if field == 'bank_weights':
    config.selective.bank = 'alexnet'
  setattr(config.selective, field, value)
  with pytest.raises(ValueError, match=match):
    run.check(config)


def test_grad_accum_steps_is_refused_for_its_own_iter_size():
  config = tiny.config()
  config.grad_accum_steps = 2
  with pytest.raises(ValueError, match='selective.iter_size'):
    run.check(config)


def test_stem_bank_needs_weights():
  config = tiny.config()
  config.pretrained = ''
  with pytest.raises(ValueError, match='config.pretrained'):
    run.check(config)
  run.check(tiny.config())  # the recipe's defaults pass


def test_neighbours_picture_is_written(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from adafilter_jax.systems.selective import figure, index  # pylint: disable=g-import-not-at-top
  target, source = tiny.random_split(6, 3, 0), tiny.random_split(50, 4, 1)
  neighbours = np.stack([np.random.default_rng(i).permutation(50)[:45] for i in range(6)])
  idx = index.Index(neighbours, np.sort(np.random.default_rng(0).random((6, 45)), 1), {}, '')
  path = figure.neighbours_png(str(tmp_path / 'n.png'), idx, target, source, rows=3)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  w, h = Image.open(path).size
  assert w > h > 0  # 3 rows of 1 target + 5 neighbours


def test_report_lists_every_round_and_the_ensemble(tmp_path):
  summary = {'config_name': 'x', 'source_mode': 'selective', 'source': 's', 'bank': 'gabor',
             'mean_class_acc_per_round': [0.5, 0.625], 'top1_per_round': [0.5, 0.75],
             'source_images_per_round': [10, 30], 'ensemble_mean_class_acc': 0.6,
             'ensemble_top1': 0.7}
  text = open(run.write_report(str(tmp_path), summary)).read()
  assert '| 1 | 50.00 | 50.00 | 10 |' in text and '| 2 | 62.50 | 75.00 | 30 |' in text
  assert '| ensemble | 60.00 | 70.00 |' in text and 'neighbours.png' in text
