"""The report on tiny synthetic runs: its numbers must be a direct count over the gate decisions."""

from __future__ import annotations

import re

import matplotlib.image
import numpy as np
import pytest

from adafilter_jax.apps import report
from adafilter_jax.apps.report.__main__ import main
from adafilter_jax.apps.report.runs import run_fractions
from tests.apps import fake_runs
from tests.apps.fake_runs import LAYERS, N_EVAL
from tests.apps.fake_runs import gate_decisions as _decisions
from tests.apps.fake_runs import direct_count as _direct_count
from tests.apps.fake_runs import write_run as _write_run
from tests import tiny_config

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _md_layer_table(md_text):
  """The per-layer rows '| layer | pct |' of the report's markdown."""
  return {m.group(1): float(m.group(2))
          for m in re.finditer(r'^\| ([\w/]+) \| ([0-9.]+) \|$', md_text, re.M)}


def _assert_png(path):
  assert path.is_file() and path.stat().st_size > 1000, path
  assert path.read_bytes()[:8] == PNG_MAGIC
  img = matplotlib.image.imread(path)
  assert img.ndim == 3 and min(img.shape[:2]) > 100
  assert img[..., :3].std() > 0  # not a blank canvas


def test_report_on_tiny_runs(tmp_path):
  dec = _decisions(2)
  _write_run(tmp_path / 'ada', method='adafilter', acc=[0.40, 0.55, 0.61], decisions=dec)
  _write_run(tmp_path / 'ft', method='finetune', acc=[0.30, 0.45, 0.52])
  images = []

  def loader(i):
    images.append(i)
    return np.full((16, 16, 3), i % 255, np.uint8)

  md_path = report.write_report([tmp_path / 'ada', tmp_path / 'ft'], tmp_path / 'out', loader)
  assert md_path == tmp_path / 'out' / 'report.md'
  md = md_path.read_text()

  # per-layer fractions printed = direct count over the decisions (printed as % with 2 decimals)
  table = _md_layer_table(md)
  want = _direct_count(dec)
  assert list(table) == list(want)
  for name in want:
    assert table[name] == pytest.approx(100 * want[name], abs=0.005 + 1e-9)
  run = report.load_run(tmp_path / 'ada')
  for name, v in run_fractions(run).items():
    assert v == pytest.approx(want[name], abs=1e-6)
  assert 'Warning' not in md

  # runs named with their final accuracies (percent) and overall fine-tuned fraction
  assert re.search(r'^\| ada \| adafilter \| digits/target \| 61\.00 \| 61\.00 \| 60\.00 \| ', md, re.M)
  assert re.search(r'^\| ft \| finetune \| digits/target \| 52\.00 \| 52\.00 \| 51\.00 \| – \|', md, re.M)
  overall = sum(int(d.sum()) for d in dec.values()) / (N_EVAL * sum(LAYERS.values()))
  assert f'| {100 * overall:.2f} |' in md
  assert 'ft: no gate statistics' in md

  for png in ('accuracy.png', 'gate_fraction_per_layer.png', 'gate_fraction_hist.png',
              'gate_extremes.png'):
    _assert_png(tmp_path / 'out' / png)
    assert f']({png})' in md
  # the extremes figure showed the most and fewest fine-tuning images, by eval index
  frac = np.load(tmp_path / 'ada' / 'gate_stats.npz')['per_image_fraction']
  most = 100 + int(np.argmax(frac))
  fewest = 100 + int(np.argmin(frac))
  assert most in images and fewest in images


def test_plain_run_only_and_failing_loader(tmp_path):
  _write_run(tmp_path / 'ft', method='finetune', acc=[0.5])
  md = report.write_report([tmp_path / 'ft'], tmp_path / 'out').read_text()
  _assert_png(tmp_path / 'out' / 'accuracy.png')
  assert not (tmp_path / 'out' / 'gate_fraction_per_layer.png').exists()
  assert '| ft | finetune |' in md and 'no gate statistics' in md

  # images unavailable (dataset not prepared): text panels instead, no error
  _write_run(tmp_path / 'ada', method='adafilter', acc=[0.5], decisions=_decisions(3),
             config={'method': 'adafilter', 'data': {'name': 'no_such_dataset/x'}})

  def broken(i):
    raise FileNotFoundError('not prepared')

  report.write_report([tmp_path / 'ada'], tmp_path / 'out2', broken)
  _assert_png(tmp_path / 'out2' / 'gate_extremes.png')


def test_missing_metrics_names_the_path(tmp_path, capsys):
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'empty' / 'metrics.jsonl'))):
    report.write_report([tmp_path / 'empty'], tmp_path / 'out')
  assert main([str(tmp_path / 'empty')]) == 1
  assert str(tmp_path / 'empty' / 'metrics.jsonl') in capsys.readouterr().err


def test_cli_default_out_and_torn_last_line(tmp_path, capsys):
  _write_run(tmp_path / 'ada', method='adafilter', acc=[0.2, 0.3], decisions=_decisions(4))
  with open(tmp_path / 'ada' / 'metrics.jsonl', 'a') as f:
    f.write('{"epoch": 3, "eval_to')  # a run still writing its next epoch
  (tmp_path / 'ada' / 'report').mkdir()
  (tmp_path / 'ada' / 'report' / 'report.md').write_text("the run's own report")
  assert main([str(tmp_path / 'ada')]) == 0
  # Into a folder of the command's own: the report training wrote stays.
  assert (tmp_path / 'ada' / 'report' / 'report.md').read_text() == "the run's own report"
  assert (tmp_path / 'ada' / 'report_of_runs' / 'report.md').is_file()
  assert str(tmp_path / 'ada' / 'report_of_runs' / 'report.md') in capsys.readouterr().out


@pytest.fixture
def drawn(monkeypatch):
  return fake_runs.keep_figures(monkeypatch)


def _boxes(fig, artists):
  fig.canvas.draw()
  renderer = fig.canvas.get_renderer()
  return [a.get_window_extent(renderer) for a in artists]


def test_layer_figure_labels_overlap_neither_bars_nor_each_other(tmp_path, drawn):
  """Early layers fine-tuned most: the bars near the left edge are above the all-filters
  line, where its label used to sit."""
  rng = np.random.default_rng(0)
  dec = {name: (rng.random((N_EVAL, c)) < 0.9 - 0.8 * i / len(LAYERS)).astype(np.int8)
         for i, (name, c) in enumerate(LAYERS.items())}
  _write_run(tmp_path / 'ada', method='adafilter', acc=[0.5, 0.6], decisions=dec)
  report.write_report([tmp_path / 'ada'], tmp_path / 'out', lambda i: np.zeros((8, 8, 3)))
  (fig,) = [f for title, f in drawn.items() if 'per layer' in title]
  (ax,) = fig.axes
  texts = [t for t in ax.texts if t.get_text()]
  assert any(t.get_text().startswith('all filters') for t in texts)
  bars, labels = _boxes(fig, ax.patches), _boxes(fig, texts)
  for t, box in zip(texts, labels):
    assert not [b for b in bars if box.overlaps(b)], t.get_text()
    assert sum(box.overlaps(other) for other in labels) == 1, t.get_text()  # itself only


def test_single_evaluations_are_points_not_curves(tmp_path, drawn):
  """Re-evaluations (one record each) are bars; beside a training run, a marker labelled as
  one evaluation on the epoch axis, not a line."""
  _write_run(tmp_path / 'best', method='adafilter', acc=[0.61])
  _write_run(tmp_path / 'latest', method='adafilter', acc=[0.58])
  md = report.write_report([tmp_path / 'best', tmp_path / 'latest'], tmp_path / 'out').read_text()
  (fig,) = [f for title, f in drawn.items() if 'accuracy' in title.lower()]
  ax = fig.axes[0]
  assert 'epoch' not in ax.get_title() + ax.get_xlabel()
  assert [round(p.get_height(), 6) for p in ax.patches] == [61.0, 58.0]
  assert [t.get_text() for t in ax.get_xticklabels()] == ['best', 'latest']
  assert 'per epoch' not in md and 'one evaluation' in md
  drawn.clear()
  _write_run(tmp_path / 'trained', method='finetune', acc=[0.4, 0.5, 0.55])
  report.write_report([tmp_path / 'trained', tmp_path / 'best'], tmp_path / 'out2')
  (fig,) = [f for title, f in drawn.items() if 'accuracy' in title.lower()]
  lines = {l.get_label(): l for l in fig.axes[0].get_lines()}
  (one,) = [l for name, l in lines.items() if name.startswith('best')]
  assert 'one evaluation' in one.get_label() and one.get_linestyle() == 'None'
  assert list(one.get_xdata()) == [1] and list(one.get_ydata()) == [61.0]
  (curve,) = [l for name, l in lines.items() if name.startswith('trained')]
  np.testing.assert_allclose(curve.get_ydata(), [40.0, 50.0, 55.0])
  assert curve.get_linestyle() == '-'


def test_extremes_name_the_classes_as_the_dataset_does(tmp_path, drawn):
  """digits_target's classes are the digits 5-9: label 1 is '6', not 'y=1'."""
  data = {'name': 'digits_target', 'data_dir': tiny_config.DATA_DIR, 'image_size': 16,
          'resize_size': 16}
  _write_run(tmp_path / 'ada', method='adafilter', acc=[0.5], decisions=_decisions(5),
             config={'method': 'adafilter', 'data': data})
  report.write_report([tmp_path / 'ada'], tmp_path / 'out')
  (fig,) = [f for title, f in drawn.items() if 'most / fewest' in title]
  stats = np.load(tmp_path / 'ada' / 'gate_stats.npz')
  order = np.argsort(-stats['per_image_fraction'], kind='stable')
  first = fig.axes[0].get_title()  # the image that fine-tunes the most
  label, pred = (int(stats[k][order[0]]) + 5 for k in ('label', 'pred'))
  assert f'y={label} p={pred}' in first, first
