"""Bad settings fail before anything loads, naming the field."""
import numpy as np
from PIL import Image
import pytest

from adafilter_jax.systems.selective import run
from tests.systems.selective import tiny


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


def _solid(colours):
  """One flat 16-px image per colour: each is found in the picture by its exact colour."""
  return np.broadcast_to(np.asarray(colours, np.uint8)[:, None, None], (len(colours), 16, 16, 3))


def test_neighbours_picture_shows_each_target_beside_its_ranked_neighbours(tmp_path):
  """Every target and source image a distinct flat colour: the picture must show, row by
  row, one target per class (first column) and its 1st/10th/20th/30th/40th neighbours
  in that order, and no other image."""
  from adafilter_jax.systems.selective import figure, index  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  colours = rng.permutation(216)[:56]  # 56 distinct colours on a 6x6x6 grid
  rgb = np.stack([colours // 36, colours // 6 % 6, colours % 6], 1) * 51
  target = tiny.ArraySplit(np.array(_solid(rgb[:6])), np.arange(6) % 3)
  source = tiny.ArraySplit(np.array(_solid(rgb[6:])), np.arange(50) % 4)
  # Rolled orders: the shown ranks of the three rows name disjoint source images.
  neighbours = np.stack([np.roll(np.arange(50), -t)[:45] for t in range(6)])
  idx = index.Index(neighbours, np.sort(np.random.default_rng(0).random((6, 45)), 1), {}, '')
  path = figure.neighbours_png(str(tmp_path / 'n.png'), idx, target, source, rows=3)

  picture = np.asarray(Image.open(path).convert('RGB')).astype(int)
  def centre(colour):  # the centre of the pixels of exactly this colour, or None
    ys, xs = np.nonzero((picture == colour).all(-1))
    return (ys.mean(), xs.mean()) if len(ys) > 100 else None
  expected = [[t] + [6 + neighbours[t, r - 1] for r in figure.RANKS] for t in (0, 1, 2)]
  centres = [[centre(rgb[i]) for i in row] for row in expected]
  assert all(c is not None for row in centres for c in row), centres
  for row in centres:  # left to right within a row, on one line
    assert [c[1] for c in row] == sorted(c[1] for c in row)
    assert np.ptp([c[0] for c in row]) < 5
  assert [row[0][0] for row in centres] == sorted(row[0][0] for row in centres)
  shown = {i for row in expected for i in row}
  assert not [i for i in range(56) if i not in shown and centre(rgb[i]) is not None]


def test_report_lists_every_round_and_the_ensemble(tmp_path):
  summary = {'config_name': 'x', 'source_mode': 'selective', 'source': 's', 'bank': 'gabor',
             'mean_class_acc_per_round': [0.5, 0.625], 'top1_per_round': [0.5, 0.75],
             'source_images_per_round': [10, 30], 'ensemble_mean_class_acc': 0.6,
             'ensemble_top1': 0.7}
  text = open(run.write_report(str(tmp_path), summary)).read()
  assert '| 1 | 50.00 | 50.00 | 10 |' in text and '| 2 | 62.50 | 75.00 | 30 |' in text
  assert '| ensemble | 60.00 | 70.00 |' in text and 'neighbours.png' in text
