"""The report of a directory holding runs (the demo's runs/demo) compares the runs of one
task inside it, into a folder of its own."""
import re

from adafilter_jax.apps.report.__main__ import main
from adafilter_jax.apps.report.runs import find_runs
from tests.apps.fake_runs import keep_figures
from tests.apps.fake_runs import write_run as _write_run


def test_directory_of_runs(tmp_path, capsys, monkeypatch):
  drawn = keep_figures(monkeypatch)
  demo = tmp_path / 'demo'
  _write_run(demo / 'source', method='finetune', acc=[0.5, 0.9], dataset='digits/source')
  _write_run(demo / 'adafilter', method='adafilter', acc=[0.3, 0.6])
  _write_run(demo / 'finetune', method='finetune', acc=[0.4, 0.7])
  _write_run(demo / 'adafilter' / 'eval' / 'best_step10_test', method='adafilter', acc=[0.6])
  (demo / 'source_weights' / 'ocdbt').mkdir(parents=True)  # not a run: no metrics.jsonl
  (demo / 'report').mkdir()
  (demo / 'report' / 'report.md').write_text("the demo's own report")
  assert find_runs(demo) == [demo / 'adafilter', demo / 'finetune', demo / 'source']
  assert find_runs(demo / 'finetune') == [demo / 'finetune']
  assert main([str(demo)]) == 0
  assert (demo / 'report' / 'report.md').read_text() == "the demo's own report"
  md = (demo / 'report_of_runs' / 'report.md').read_text()
  compared, apart = md.split('## Runs on another dataset')
  row = r'^\| (\w+) \| (\w+) \| [^|]+ \| ([\d.]+) \|'
  assert re.findall(row, compared, re.M) == [('adafilter', 'adafilter', '60.00'),
                                            ('finetune', 'finetune', '70.00')]
  # The source task's run is listed apart, and not drawn beside the target task's.
  assert re.findall(row, apart, re.M) == [('source', 'finetune', '90.00')]
  (accuracy,) = [f for title, f in drawn.items() if 'accuracy' in title.lower()]
  labels = [l.get_label() for l in accuracy.axes[0].get_lines()]
  assert [l.split(':')[0] for l in labels] == ['adafilter', 'finetune'], labels
  capsys.readouterr()
  assert main([str(tmp_path / 'nothing')]) == 1
  assert 'no such directory' in capsys.readouterr().err
