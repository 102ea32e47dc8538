"""The report's figures read at the size they are written: layer names in pixels, the
histogram's bins against the values a fraction can take, legends without a repeated name,
the selective demo's target titles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adafilter_jax.apps.report import figures
from adafilter_jax.apps.report import policy
from adafilter_jax.apps.report.runs import Run
from tests.apps import fake_runs

# A ResNet-50's gated convs: the stem, 16 blocks of three, a downsample in each stage.
RESNET50 = ['conv1'] + [f'layer{s}_{b}/{c}' for s, n in enumerate((3, 4, 6, 3), 1)
                        for b in range(n)
                        for c in ('conv1', 'conv2', 'conv3') + (('downsample',) if b == 0 else ())]


@pytest.fixture
def drawn(monkeypatch):
  return fake_runs.keep_figures(monkeypatch)


def _policy_run(names):
  layers = {n: {'varying': 0.5, 'mi_bits': 0.1} for n in names}
  return Run('adafilter', Path('.'), [], {'method': 'adafilter',
                                          'policy': {'layers': layers, 'all': {}}}, None)


def test_layer_names_of_resnet50_are_readable_and_apart(tmp_path, drawn):
  """policy_per_layer.png printed a ResNet-50's layer names about 6 px high: 6 pt at
  120 dpi, two panels of 53 layers side by side."""
  assert len(RESNET50) == 53
  policy.plot_per_layer([_policy_run(RESNET50)], tmp_path / 'policy_per_layer.png')
  (fig,) = drawn.values()
  fig.set_dpi(figures.DPI)  # as saved
  fig.canvas.draw()
  renderer = fig.canvas.get_renderer()
  for ax in fig.axes:
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == RESNET50
    assert all(t.get_fontsize() * figures.DPI / 72 >= 13 for t in labels)  # 8 pt: 13 px
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))  # none overlaps the next


def _gated_run(name, fractions):
  gates = {'layers': ['conv1'], 'per_image_fraction': np.asarray(fractions, np.float32)}
  return Run(name, Path('.'), [], {'method': 'adafilter'}, gates)


def test_fraction_histogram_has_no_artefact_gaps_and_counts_in_integers(tmp_path, drawn):
  """10 filters: a fraction is 0.3, 0.4, ... only. Bins cut without regard to that were
  empty between them (a gap that looks bimodal), and a few images gave fractional ticks."""
  fractions = [0.3] * 2 + [0.4] * 3 + [0.5] * 1 + [0.6] * 4 + [0.7] * 2
  figures.plot_fraction_hist([_gated_run('adafilter', fractions)], tmp_path / 'hist.png')
  (fig,) = drawn.values()
  (ax,) = fig.axes
  heights = [p.get_height() for p in ax.patches]
  assert heights == [2, 3, 1, 4, 2]  # a bin per possible value, none empty
  edges = [p.get_x() for p in ax.patches]
  np.testing.assert_allclose(edges, [25, 35, 45, 55, 65], atol=1e-6)  # halfway between
  ticks = [t for t in ax.get_yticks() if 0 <= t <= max(heights)]
  assert ticks and all(float(t).is_integer() for t in ticks)


def test_bins_hold_equally_many_possible_values_with_more_filters():
  k = np.array([0, 7, 31, 95, 130])
  edges = figures.fraction_bins(k / 152, 152)  # fake_runs' 152 filters, 131 values: 5 each
  values_per_bin = np.diff(edges) / 100 * 152
  np.testing.assert_allclose(values_per_bin, 5)
  assert edges[0] == pytest.approx(-0.5 / 152 * 100) and edges[-1] >= 130.5 / 152 * 100
  assert figures.lattice(np.float32(k / 152)) == 152
  assert figures.lattice(np.random.default_rng(0).random(50)) is None


def test_legends_do_not_repeat_the_name(tmp_path, drawn):
  """A run named after its method read 'adafilter (adafilter)'."""
  run = _gated_run('adafilter', [0.3, 0.4])
  other = Run('seed_0', Path('.'), [], {'method': 'finetune'}, None)
  assert (run.label, other.label) == ('adafilter', 'seed_0 (finetune)')
  figures.plot_fraction_hist([run], tmp_path / 'hist.png')
  (fig,) = drawn.values()
  assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
      'adafilter: mean 35.0%, n=2']


def test_neighbours_titles_say_image_and_class(tmp_path, monkeypatch):
  """'target 0' read like a class label: it is the image's index in the split."""
  from adafilter_jax.systems.selective import figure, index  # pylint: disable=g-import-not-at-top
  from tests.systems.selective import tiny  # pylint: disable=g-import-not-at-top
  drawn = fake_runs.keep_figures(monkeypatch)
  images = np.zeros((6, 8, 8, 3), np.uint8)
  target = tiny.ArraySplit(images, np.array([2, 0, 1, 2, 0, 1]))
  source = tiny.ArraySplit(np.zeros((50, 8, 8, 3), np.uint8), np.arange(50) % 4)
  neighbours = np.stack([np.arange(45)] * 6)
  idx = index.Index(neighbours, np.zeros((6, 45)), {}, '')
  figure.neighbours_png(str(tmp_path / 'n.png'), idx, target, source, rows=3,
                        class_names=['5', '6', '7'])
  (fig,) = drawn.values()
  firsts = [ax.get_title() for ax in fig.axes[::1 + len(figure.RANKS)]]
  # one target per class, in index order: images 0 (label 2), 1 (label 0), 2 (label 1)
  assert firsts == ['target image #0\nclass 7', 'target image #1\nclass 5',
                    'target image #2\nclass 6']
