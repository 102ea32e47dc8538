"""Evaluate: a finished run's checkpoint gives exactly the accuracy the run recorded; an
interrupted run's 'best' and 'latest' are the checkpoints asked for; training files stay."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from adafilter_jax.apps import evaluate as apps_evaluate
from adafilter_jax.inference import evaluate
from adafilter_jax.inference import restore as inference
from adafilter_jax.train.loop import Interrupted
from adafilter_jax.train.loop import train_and_evaluate
from tests import tiny_config
from tests.train import runs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def _digest(workdir):
  """Every file of the run but eval/: what evaluating must leave alone."""
  out = {}
  for root, dirs, files in os.walk(workdir):
    dirs[:] = [d for d in dirs if os.path.join(root, d) != os.path.join(workdir, 'eval')]
    for f in files:
      with open(os.path.join(root, f), 'rb') as fh:
        out[os.path.relpath(os.path.join(root, f), workdir)] = hashlib.sha256(fh.read()).hexdigest()
  return out


def test_finished_adafilter_run_repeats_recorded_accuracy(adafilter_run):
  workdir, _, _ = adafilter_run
  before = _digest(workdir)
  records = _records(workdir)
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  best = evaluate.evaluate_workdir(workdir, 'best')
  assert best['eval_top1'] == summary['best_eval_top1']
  assert best['epoch'] == summary['best_epoch']
  latest = apps_evaluate.evaluate_and_report(workdir, 'latest')  # + the report
  assert latest['eval_top1'] == records[-1]['eval_top1']
  assert latest['eval_mean_class_acc'] == records[-1]['eval_mean_class_acc']
  assert latest['num_images'] == 846
  # The gate statistics of the last epoch, image by image, in a directory of their own.
  out = os.path.join(workdir, 'eval', f'latest_step{latest["step"]}_test')
  run_stats, eval_stats = (np.load(os.path.join(d, 'gate_stats.npz')) for d in (workdir, out))
  for k in ('per_image_layer_fraction', 'per_image_fraction', 'index', 'pred'):
    np.testing.assert_array_equal(eval_stats[k], run_stats[k], err_msg=k)
  assert os.path.isfile(os.path.join(out, 'report', 'report.md'))
  assert _digest(workdir) == before


def test_interrupted_run_uses_the_checkpoint_asked_for(tmp_path, monkeypatch):
  config = tiny_config.config('finetune', epochs=2)
  workdir = str(tmp_path / 'run')
  with monkeypatch.context() as m:
    runs.interrupt_after(m, 7)  # epoch 1 done (step 5), stopped at step 8
    with pytest.raises(Interrupted):
      train_and_evaluate(config, workdir)
  (epoch1,) = _records(workdir)
  best = evaluate.evaluate_workdir(workdir, 'best')
  assert (best['step'], best['eval_top1']) == (5, epoch1['eval_top1'])
  latest = evaluate.evaluate_workdir(workdir, 'latest')
  assert latest['step'] == 8 and latest['checkpoint'] == 'latest'
  # The resumed run's epoch 2 starts from this very state: its accuracy is evaluated anew.
  train_and_evaluate(config, workdir)
  assert evaluate.evaluate_workdir(workdir, 'latest')['eval_top1'] == _records(workdir)[1]['eval_top1']


def test_random_policy_draws_the_recorded_samples(tmp_path):
  """The random gate samples at test time too: the re-evaluation uses the epoch's key."""
  workdir = str(tmp_path / 'run')
  train_and_evaluate(tiny_config.config('random_policy', epochs=1,
                                        **{'adafilter.gate': 'random'}), workdir)
  (record,) = _records(workdir)
  again = evaluate.evaluate_workdir(workdir, 'best')
  assert again['eval_top1'] == record['eval_top1']
  assert again['gate_fraction'] == record['gate_fraction']


def test_named_split_and_errors(finetune_run, tmp_path):
  workdir, _, _ = finetune_run
  rec = evaluate.evaluate_workdir(workdir, 'latest', split='train', out_dir=str(tmp_path / 'e'))
  assert rec['split'] == 'train' and rec['num_images'] == 50
  with pytest.raises(ValueError, match="no split 'nope'"):
    evaluate.evaluate_workdir(workdir, split='nope')
  with pytest.raises(FileNotFoundError, match='config.json'):
    evaluate.evaluate_workdir(str(tmp_path))


def test_eval_config_may_change_only_what_evaluation_may(finetune_run):
  workdir, _, _ = finetune_run
  saved = inference.load_config(workdir)
  config = inference.eval_config(saved, {'eval_batch_size': 64, 'data.data_dir': '/data',
                                         'model.width': 8}, workdir)  # the run's own width
  assert (config.eval_batch_size, config.data.data_dir, config.model.width) == (64, '/data', 8)
  with pytest.raises(ValueError) as e:
    inference.eval_config(saved, {'model.width': 16, 'method': 'adafilter'}, workdir)
  assert f"config.model.width=16: the run in {workdir} was trained with 8" in str(e.value)
  assert "config.method='adafilter': the run in" in str(e.value)
  assert 'data.data_dir' in str(e.value)  # what may change


def test_main_mode_eval_builds_the_run_s_own_model(finetune_run, capsys):
  """The docs' command line: the demo's config beside a run of another model (width 8 at
  16 px, not the demo's 16 at 32): the run's own config.json builds the model, and the
  accuracy recorded is repeated; an override evaluation may not change is named. It
  prints what adafilter-evaluate prints (it printed a raw Python dict, that one JSON)."""
  workdir, _, _ = finetune_run
  argv = [sys.executable, 'main.py', '--config', 'configs/demo.py', '--mode=eval',
          '--checkpoint=latest', f'--workdir={workdir}',
          f'--config.data.data_dir={tiny_config.DATA_DIR}']
  procs = [subprocess.Popen(a, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
           for a in (argv, argv + ['--config.method=adafilter'])]
  (out, err), (_, bad) = (p.communicate(timeout=300) for p in procs)
  assert procs[0].returncode == 0, err[-3000:]
  last = _records(workdir)[-1]
  out_dir = os.path.join(workdir, 'eval', f'latest_step{last["step"]}_test')
  assert out.splitlines() == [
      f'latest checkpoint (step {last["step"]}, epoch {last["epoch"]}) on test, 846 images: '
      f'top-1 {last["eval_top1"]:.2%}, mean class accuracy {last["eval_mean_class_acc"]:.2%}',
      f'written: {out_dir}/summary.json, {out_dir}/metrics.jsonl (with the per-layer shares)',
      f'report: {out_dir}/report/report.md']
  assert apps_evaluate.main([workdir, '--checkpoint', 'latest']) == 0
  assert capsys.readouterr().out == out  # adafilter-evaluate: the same lines
  assert procs[1].returncode == 1, bad[-3000:]
  assert f"config.method='adafilter': the run in {workdir} was trained with 'finetune'" in bad
  assert 'Traceback' not in bad and 'MISSING' not in bad, bad[-3000:]


def test_evaluate_prints_the_per_layer_table(adafilter_run, tmp_path, capsys):
  """The fine-tuned share of each gated layer, one a line (it was on one line of a dict,
  or left out), as the run's metrics.jsonl records them for the same checkpoint."""
  workdir, _, _ = adafilter_run
  out_dir = str(tmp_path / 'eval')
  assert apps_evaluate.main([workdir, '--checkpoint', 'latest', '--out', out_dir]) == 0
  lines = capsys.readouterr().out.splitlines()
  last = _records(workdir)[-1]
  fractions = last['gate_fraction']
  assert lines[1] == 'fine-tuned filters per layer:'
  width = max(map(len, fractions))
  assert lines[2:2 + len(fractions)] == [f'  {k:<{width}s}  {v:6.1%}' for k, v in fractions.items()]
  assert lines[2 + len(fractions)].startswith(f'written: {out_dir}/summary.json')
  with open(os.path.join(out_dir, 'summary.json')) as f:
    assert json.load(f)['final_eval_top1'] == last['eval_top1']


def test_evaluate_runs_the_loops_evaluators_with_the_same_numbers(adafilter_run):
  """One set of evaluations (config.evaluators): the latest checkpoint evaluated again
  gives every metric the loop recorded for its epoch, policy diagnostics included."""
  workdir, _, _ = adafilter_run
  recorded = _records(workdir)[-1]
  again = json.loads(json.dumps(evaluate.evaluate_workdir(workdir, 'latest')))
  keys = ('eval_top1', 'eval_mean_class_acc', 'gate_fraction', 'gate_fraction_per_stage',
          'policy')
  assert {k: again[k] for k in keys} == {k: recorded[k] for k in keys}


def test_the_config_chooses_the_evaluations(tmp_path):
  workdir = str(tmp_path / 'run')
  train_and_evaluate(tiny_config.config('adafilter', evaluators=('accuracy', 'gate_fraction')),
                     workdir)
  record, = _records(workdir)
  assert record['gate_fraction'] and 'policy' not in record
  assert not os.path.exists(os.path.join(workdir, 'policy_init.npz'))  # not evaluated
  again = evaluate.evaluate_workdir(workdir, 'latest')
  assert again['gate_fraction'] == record['gate_fraction'] and 'policy' not in again
