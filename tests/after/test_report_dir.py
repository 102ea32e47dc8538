"""The report of a directory holding runs (the demo's runs/demo) reports the runs inside it."""
import re

from adafilter_jax.apps.report.__main__ import main
from adafilter_jax.apps.report.runs import find_runs
from tests.report.test_report import _write_run


def test_directory_of_runs(tmp_path, capsys):
  demo = tmp_path / 'demo'
  _write_run(demo / 'source', method='finetune', acc=[0.5, 0.9])
  _write_run(demo / 'adafilter', method='adafilter', acc=[0.3, 0.6])
  _write_run(demo / 'finetune', method='finetune', acc=[0.4, 0.7])
  _write_run(demo / 'adafilter' / 'eval' / 'best_step10_test', method='adafilter', acc=[0.6])
  (demo / 'source_weights' / 'ocdbt').mkdir(parents=True)  # not a run: no metrics.jsonl
  assert find_runs(demo) == [demo / 'adafilter', demo / 'finetune', demo / 'source']
  assert find_runs(demo / 'finetune') == [demo / 'finetune']
  assert main([str(demo)]) == 0
  md = (demo / 'report' / 'report.md').read_text()
  rows = re.findall(r'^\| (\w+) \| (\w+) \| [^|]+ \| ([\d.]+) \|', md, re.M)
  assert rows == [('adafilter', 'adafilter', '60.00'), ('finetune', 'finetune', '70.00'),
                  ('source', 'finetune', '90.00')]
  capsys.readouterr()
  assert main([str(tmp_path / 'nothing')]) == 1
  assert 'no such directory' in capsys.readouterr().err
