"""What a training run prints as it goes and at its end: the progress bar's whole-run ETA
(train/metrics.py Progress: the mean step time since the run's first step, whose compile
it leaves out, on a fake clock), and the summary after the last epoch (main.py)."""
import json
import os

from absl.testing import flagsaver

from adafilter_jax.apps import jobs
from adafilter_jax.train import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Clock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def _eta(progress):
  return dict(kv.split('=') for kv in progress.bar.postfix.split(', '))['eta']


def test_the_eta_is_the_mean_step_since_the_compile(monkeypatch):
  """The defect: the rate over the epoch so far made the ETA jump 5:55:19, 2:34:52,
  0:00:40, 1:09:57 on slow steps, the compile and each epoch's first steps in it."""
  clock = Clock()
  monkeypatch.setattr(metrics.time, 'time', clock)
  progress = metrics.Progress(total_steps=100, batch_size=8)
  progress.start_epoch(1, 10, steps=10, done=0)
  clock.now = 100.0  # the first step: the compile
  progress.update(1)
  assert _eta(progress) == '?'
  for step in range(2, 11):  # 1 s a step, step 5 10 s
    clock.now += 10.0 if step == 5 else 1.0
    progress.update(step)
  assert _eta(progress) == '0:03:00'  # 18 s over 9 steps, 90 steps left: 180 s
  progress.end_epoch()
  clock.now += 5.0  # the evaluation
  progress.start_epoch(2, 10, steps=10, done=0)
  clock.now += 1.0
  progress.update(11)
  assert _eta(progress) == '0:03:33'  # (124 - 100) / 10 s a step, 89 steps: 213.6 s
  progress.end_epoch()


SUMMARY = {'method': 'adafilter', 'dataset': 'digits_target', 'final_eval_top1': 0.7046,
           'best_eval_top1': 0.7305, 'best_epoch': 19, 'epochs': 30}


def test_a_training_run_ends_with_its_summary(tmp_path, monkeypatch, capsys):
  """main.py ended a run (other than the demo's) on its last epoch line: no accuracy, no
  best epoch, no word of where summary.json is."""
  import main  # pylint: disable=g-import-not-at-top

  def train(config, workdir):  # what a finished run leaves: summary.json, the report
    os.makedirs(os.path.join(workdir, 'report'))
    with open(os.path.join(workdir, 'summary.json'), 'w') as f:
      json.dump(SUMMARY, f)
    open(os.path.join(workdir, 'report', 'report.md'), 'w').close()

  workdir = str(tmp_path / 'run')
  monkeypatch.setattr(main, 'job_for', lambda config, name: (train, workdir))
  with flagsaver.flagsaver():
    main.FLAGS(['main.py', '--config', os.path.join(ROOT, 'configs', 'tiny.py')])
    main._run(main.FLAGS.config)  # pylint: disable=protected-access
  assert capsys.readouterr().out.splitlines()[-3:] == [
      'adafilter on digits_target: eval top-1 70.46% after 30 epochs (best 73.05% at epoch 19)',
      f'summary: {workdir}/summary.json', f'report: {workdir}/report/report.md']


def test_a_runner_without_best_epoch_says_so_without_it(tmp_path):
  summary = {k: v for k, v in SUMMARY.items() if k != 'best_epoch'}
  (tmp_path / 'summary.json').write_text(json.dumps(summary))
  assert jobs.final_summary(str(tmp_path)).splitlines()[0].endswith('(best 73.05%)')
