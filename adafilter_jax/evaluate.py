"""Evaluates a trained workdir again, without touching its training files.

  python main.py --config configs/caltech256_30.py --mode=eval [--checkpoint=latest]
  python -m adafilter_jax.evaluate runs/demo/adafilter [--checkpoint latest] [--split train]

Restores the best (default) or the latest checkpoint, runs the whole eval split (or
another prepared split, or 'heldout': the held-out part of the train split when the
run had ``config.data.val_fraction``) with the training loop's own eval step, and writes
``metrics.jsonl``, ``summary.json``, ``gate_stats.npz`` and ``report/`` into
``WORKDIR/eval/<checkpoint>_step<N>_<split>/`` (a run directory of its own, which
``python -m adafilter_jax.report`` reads like any other).
"""
import argparse
import json
import os
import sys
from typing import Optional, Sequence

from absl import logging
import jax
import optax

from adafilter_jax import inference
from adafilter_jax.data import pipeline
from adafilter_jax.data import validation
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
                     config=None, out_dir: Optional[str] = None) -> dict:
  """Evaluates `workdir`'s `which` checkpoint on `split`; returns the metrics record."""
  workdir = os.path.abspath(workdir)
  r = inference.restore(workdir, which, config)
  cfg, split = validation.config_for_split(r.config, split)
  num_classes = r.meta['num_classes']
  pipeline.load_dataset_info(cfg.data)  # an unprepared dataset or unknown split fails here
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
  logging.info('%s checkpoint (step %d) on %s: top-1 %.4f, mean-class %.4f -> %s', which,
               r.step, split, top1, mean_class, out_dir)
  return record


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
  try:
    from adafilter_jax import report  # pylint: disable=g-import-not-at-top
    report.write_report([out_dir], os.path.join(out_dir, 'report'))
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('report not written: %r', e)  # a view of the files above


def main(argv: Optional[Sequence[str]] = None) -> int:
  p = argparse.ArgumentParser(prog='adafilter-evaluate', description=__doc__.split('\n')[0])
  p.add_argument('workdir', help='a training run directory (with config.json, checkpoints/)')
  p.add_argument('--checkpoint', choices=inference.CHECKPOINTS, default='best')
  p.add_argument('--split', default=None,
                 help="a prepared split of the run's dataset, or 'heldout' "
                      "(default: the run's eval split)")
  p.add_argument('--out', default=None, help='output directory (default: WORKDIR/eval/...)')
  args = p.parse_args(argv)
  logging.set_verbosity(logging.INFO)
  try:
    record = evaluate_workdir(args.workdir, args.checkpoint, args.split, out_dir=args.out)
  except (FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(json.dumps({k: v for k, v in record.items() if k != 'gate_fraction'}))
  return 0


if __name__ == '__main__':
  sys.exit(main())
