"""Evaluates a trained workdir again, without touching its training files.

Restores the best (default) or the latest checkpoint, runs the whole eval split (or
another prepared split, or 'heldout': the held-out part of the train split when the
run had ``config.data.val_fraction``) with the training loop's own eval step and
evaluators (``config.evaluators``, train/evaluators/), and writes ``metrics.jsonl``,
``summary.json`` and ``gate_stats.npz`` into ``WORKDIR/eval/<checkpoint>_step<N>_<split>/``
(a run directory of its own, which ``python -m adafilter_jax.apps.report`` reads like
any other). The commands are adafilter_jax/apps/evaluate.py and main.py's --mode=eval.
"""
import os
from typing import Any, Callable, Mapping, Optional

from absl import logging
import jax
import optax

from adafilter_jax.inference import restore as inference
from adafilter_jax.data import pipeline
from adafilter_jax.train import checks
from adafilter_jax.train import evaluators as evaluators_lib
from adafilter_jax.train import keys
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import steps as steps_lib


def evaluate_workdir(workdir: str, which: str = 'best', split: Optional[str] = None,
                     overrides: Optional[Mapping[str, Any]] = None,
                     out_dir: Optional[str] = None,
                     report: Optional[Callable[[str], Any]] = None) -> dict:
  """Evaluates `workdir`'s `which` checkpoint on `split`; returns the metrics record
  and where it was written (`out_dir`).

  The model is the run's own (its config.json), with `overrides` of what evaluation may
  change (`restore.EVAL_FIELDS`: data_dir, eval_batch_size, ...). Writes the record as a
  run directory of its own (`out_dir`), then, on process 0, `report` (that directory):
  the caller's view of it (the applications pass the report)."""
  workdir = os.path.abspath(workdir)
  r = inference.restore(workdir, which, overrides)
  if split is not None:
    pipeline.check_split(r.config.data, split, '--split')
  cfg, split = pipeline.config_for_split(r.config, split)
  checks.check_fields(cfg, inference.EVAL_FIELDS)  # what evaluation may change, as training
  num_classes = r.meta['num_classes']
  pipeline.load_dataset_info(cfg.data)  # an unprepared dataset or unknown split fails here
  change = pipeline.data_change(r.meta.get('data'), pipeline.prepared_record(cfg.data))
  if change:
    logging.warning("%s has been prepared again since this run trained (%s): evaluating the "
                    "data as it is now, not the data of the run's summary.json.",
                    cfg.data.name, change)
  par = parallel_lib.Parallel(cfg.parallel)
  par.check_batch(cfg.eval_batch_size, 'config.eval_batch_size')
  state = steps_lib.TrainState.create(apply_fn=r.model.apply, params=r.variables['params'],
                                      tx=optax.identity(), batch_stats=r.variables['batch_stats'])
  eval_fn = par.eval_step(steps_lib.make_eval_step(cfg, par.bn_axis_name))
  # The key the loop evaluated the checkpoint's epoch with: the random-policy gate then
  # draws the same samples, so a re-evaluation repeats the recorded accuracy.
  outputs = evaluators_lib.run_pass(par, eval_fn, par.put_state(state), cfg,
                                    keys.evaluation(cfg.seed, max(r.meta['epoch'] - 1, 0)))
  out_dir = out_dir or os.path.join(workdir, 'eval', f'{which}_step{r.step}_{split}')
  writer = _writer(out_dir, cfg)
  ctx = evaluators_lib.Context(cfg, num_classes, r.widths, writer, workdir)
  evaluated = evaluators_lib.record(evaluators_lib.load(evaluators_lib.names(cfg), ctx),
                                    outputs, r.meta['epoch'])
  record = {'epoch': r.meta['epoch'], 'step': r.step, 'checkpoint': which, 'split': split,
            **evaluated, 'num_images': len(outputs['pred'])}
  _write(writer, cfg, record)
  if report is not None and jax.process_index() == 0:
    try:
      report(out_dir)
    except Exception as e:  # pylint: disable=broad-except
      logging.warning('report not written: %r', e)  # a view of the files above
  logging.info('%s checkpoint (step %d) on %s: top-1 %.4f, mean-class %.4f -> %s', which,
               r.step, split, record['eval_top1'], record['eval_mean_class_acc'], out_dir)
  return {**record, 'out_dir': out_dir}


def _writer(out_dir: str, config) -> metrics_lib.Writer:
  """The eval's one-epoch run directory: the report reads it like a training run."""
  if jax.process_index() == 0 and os.path.exists(os.path.join(out_dir, metrics_lib.METRICS)):
    os.remove(os.path.join(out_dir, metrics_lib.METRICS))  # a rerun replaces, never appends
  writer = metrics_lib.Writer(out_dir)
  writer.config(config)
  return writer


def _write(writer: metrics_lib.Writer, config, record: dict):
  writer.epoch(record)
  writer.summary({'method': config.method, 'dataset': config.data.name,
                  'config_name': config.name, 'final_eval_top1': record['eval_top1'],
                  'best_eval_top1': record['eval_top1'], 'best_epoch': record['epoch'],
                  'final_eval_mean_class_acc': record['eval_mean_class_acc'],
                  **{k: record[k] for k in ('checkpoint', 'step', 'split', 'num_images')}})


def test_once(config, workdir: str) -> dict:
  """The eval split, once, with the checkpoint chosen on the held-out images: what the
  training loop's summary records as the test (its `test_pass`). `config` is the run's,
  as its config.json holds it."""
  del config
  rec = evaluate_workdir(workdir, 'best', None)
  logging.info('test (%s), best validation checkpoint of epoch %d: top-1 %.4f', rec['split'],
               rec['epoch'], rec['eval_top1'])
  return {'test_top1': rec['eval_top1'], 'test_mean_class_acc': rec['eval_mean_class_acc'],
          'test_split': rec['split'], 'test_epoch': rec['epoch']}
