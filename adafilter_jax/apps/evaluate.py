"""Evaluates a trained workdir again, and writes the report of that evaluation.

  python main.py --config configs/caltech256_30.py --mode=eval [--checkpoint=latest]
  python -m adafilter_jax.apps.evaluate runs/demo/adafilter [--checkpoint latest] [--split train]

The evaluation is adafilter_jax/inference/evaluate.py's; this command adds the report
(``WORKDIR/eval/<checkpoint>_step<N>_<split>/report``). Both commands print the same:
the accuracy, the fine-tuned share per gated layer, and where the files are.
"""
import argparse
import os
import sys
from typing import Any, Mapping, Optional, Sequence

from absl import logging

from adafilter_jax.apps import report as report_lib
from adafilter_jax.data import logs
from adafilter_jax.data import cli_errors
from adafilter_jax.inference import evaluate
from adafilter_jax.inference import restore as inference


def evaluate_and_report(workdir: str, which: str = 'best', split: Optional[str] = None,
                        overrides: Optional[Mapping[str, Any]] = None,
                        out_dir: Optional[str] = None) -> dict:
  """`inference.evaluate.evaluate_workdir` (the one evaluation), with the report written
  beside its files: what both evaluate commands run."""
  return evaluate.evaluate_workdir(workdir, which, split, overrides, out_dir,
                                   report=report_lib.write_run_report)


def format_record(record: Mapping[str, Any]) -> str:
  """What both evaluate commands print (main.py --mode=eval, adafilter-evaluate): the
  accuracy, the fine-tuned share of each gated layer, and where the files are."""
  r = record
  lines = [f'{r["checkpoint"]} checkpoint (step {r["step"]}, epoch {r["epoch"]}) on '
           f'{r["split"]}, {r["num_images"]} images: top-1 {r["eval_top1"]:.2%}, mean '
           f'class accuracy {r["eval_mean_class_acc"]:.2%}']
  if r['gate_fraction']:
    width = max(map(len, r['gate_fraction']))
    lines += ['fine-tuned filters per layer:']
    lines += [f'  {layer:<{width}s}  {f:6.1%}' for layer, f in r['gate_fraction'].items()]
  out = r['out_dir']
  lines += [f'written: {os.path.join(out, "summary.json")}, {os.path.join(out, "metrics.jsonl")}'
            ' (with the per-layer shares)', f'report: {os.path.join(out, "report", "report.md")}']
  return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
  p = argparse.ArgumentParser(prog='adafilter-evaluate', description=__doc__.split('\n')[0])
  p.add_argument('workdir', help='a training run directory (with config.json, checkpoints/)')
  p.add_argument('--checkpoint', choices=inference.CHECKPOINTS, default='best')
  p.add_argument('--split', default=None,
                 help="a prepared split of the run's dataset, or 'heldout' "
                      "(default: the run's eval split)")
  p.add_argument('--out', default=None, help='output directory (default: WORKDIR/eval/...)')
  args = p.parse_args(argv)
  logs.quiet_libraries(logging.INFO)
  try:
    record = evaluate_and_report(args.workdir, args.checkpoint, args.split, out_dir=args.out)
  except cli_errors.USER_ERRORS as e:
    return cli_errors.report(e)
  print(format_record(record))
  return 0



if __name__ == '__main__':
  sys.exit(main())
