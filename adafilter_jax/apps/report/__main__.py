"""python -m adafilter_jax.apps.report WORKDIR [WORKDIR ...] [--out DIR]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from adafilter_jax.apps.report import write_report
from adafilter_jax.apps.report.runs import find_runs
from adafilter_jax.data import logs
from adafilter_jax.data import cli_errors

DEFAULT_OUT = 'report_of_runs'


def main(argv: Sequence[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog='python -m adafilter_jax.apps.report',
                              description='Figures and report.md for AdaFilter / fine-tuning runs.')
  p.add_argument('workdirs', nargs='+', help='run directories (each with metrics.jsonl), or '
                 'directories holding runs (runs/demo): each run found below is reported')
  p.add_argument('--out', help=f'output directory (default: FIRST_WORKDIR/{DEFAULT_OUT}: '
                 "never a run's own report/, which training and the demo write)")
  args = p.parse_args(argv)
  logs.quiet_libraries()
  try:
    runs = [run for w in args.workdirs for run in find_runs(w)]
    md = write_report(runs, args.out or Path(args.workdirs[0]) / DEFAULT_OUT)
  except cli_errors.USER_ERRORS as e:
    return cli_errors.report(e)
  print(md)
  return 0


if __name__ == '__main__':
  sys.exit(main())
