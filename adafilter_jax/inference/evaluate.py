"""Evaluates a trained workdir again, without touching its training files.

Restores the best (default) or the latest checkpoint, runs the whole eval split (or
another prepared split, or 'heldout': the held-out part of the train split when the
run had ``config.data.val_fraction``) with the training loop's own eval step, and writes
``metrics.jsonl``, ``summary.json`` and ``gate_stats.npz`` into
``WORKDIR/eval/<checkpoint>_step<N>_<split>/`` (a run directory of its own, which
``python -m adafilter_jax.apps.report`` reads like any other). The command is
adafilter_jax/apps/evaluate.py.
"""
import os
from typing import Any, Callable, Mapping, Optional

from absl import logging
import jax
import optax

from adafilter_jax.inference import restore as inference
from adafilter_jax.data import pipeline
from adafilter_jax.train import checks
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import steps as steps_lib
from adafilter_jax.train.loop import evaluate as evaluate_pass


def eval_key(config, epoch: int):
  """The key the training loop evaluated epoch `epoch` (1-based) with: the random-policy
  gate then draws the same samples, so a re-evaluation repeats the recorded accuracy."""
  key = jax.random.fold_in(jax.random.key(config.seed), 2)
  return jax.random.fold_in(key, max(epoch - 1, 0))


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
  outputs = evaluate_pass(par, eval_fn, par.put_state(state), cfg, eval_key(cfg, r.meta['epoch']))
  top1, mean_class = metrics_lib.accuracies(outputs['pred'], outputs['label'], num_classes)
  record = {'epoch': r.meta['epoch'], 'step': r.step, 'checkpoint': which, 'split': split,
            'eval_top1': top1, 'eval_mean_class_acc': mean_class, 'num_images': len(outputs['pred']),
            'gate_fraction': metrics_lib.gate_fraction(outputs, r.layers)}
  out_dir = out_dir or os.path.join(workdir, 'eval', f'{which}_step{r.step}_{split}')
  _write(out_dir, cfg, record, outputs, r.layers)
  if report is not None and jax.process_index() == 0:
    try:
      report(out_dir)
    except Exception as e:  # pylint: disable=broad-except
      logging.warning('report not written: %r', e)  # a view of the files above
  logging.info('%s checkpoint (step %d) on %s: top-1 %.4f, mean-class %.4f -> %s', which,
               r.step, split, top1, mean_class, out_dir)
  return {**record, 'out_dir': out_dir}


def _write(out_dir: str, config, record: dict, outputs, layers):
  """The eval as a one-epoch run directory: the report reads it like a training run."""
  if jax.process_index() != 0:
    return
  os.makedirs(out_dir, exist_ok=True)
  if os.path.exists(os.path.join(out_dir, metrics_lib.METRICS)):
    os.remove(os.path.join(out_dir, metrics_lib.METRICS))  # a rerun replaces, never appends
  writer = metrics_lib.Writer(out_dir)
  writer.config(config)
  writer.epoch(record)
  writer.gate_stats(outputs, layers, record['epoch'])
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
