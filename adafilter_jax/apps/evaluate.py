"""Evaluates a trained workdir again, and writes the report of that evaluation.

  python main.py --config configs/caltech256_30.py --mode=eval [--checkpoint=latest]
  python -m adafilter_jax.apps.evaluate runs/demo/adafilter [--checkpoint latest] [--split train]

The evaluation is adafilter_jax/inference/evaluate.py's; this command adds the report
(``WORKDIR/eval/<checkpoint>_step<N>_<split>/report``).
"""
import argparse
import json
import sys
from typing import Any, Mapping, Optional, Sequence

from absl import logging

from adafilter_jax.apps import report as report_lib
from adafilter_jax.data import logs
from adafilter_jax.data import user_errors
from adafilter_jax.inference import evaluate
from adafilter_jax.inference import restore as inference


def evaluate_workdir(workdir: str, which: str = 'best', split: Optional[str] = None,
                     overrides: Optional[Mapping[str, Any]] = None,
                     out_dir: Optional[str] = None) -> dict:
  """`inference.evaluate.evaluate_workdir`, with the report written beside its files."""
  return evaluate.evaluate_workdir(workdir, which, split, overrides, out_dir,
                                   report=report_lib.write_run_report)


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
    record = evaluate_workdir(args.workdir, args.checkpoint, args.split, out_dir=args.out)
  except user_errors.USER_ERRORS as e:
    return user_errors.report(e)
  print(json.dumps({k: v for k, v in record.items() if k != 'gate_fraction'}))
  return 0



if __name__ == '__main__':
  sys.exit(main())
