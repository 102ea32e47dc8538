"""python -m adafilter_jax.report WORKDIR [WORKDIR ...] [--out DIR]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from adafilter_jax.report import write_report


def main(argv: Sequence[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog='python -m adafilter_jax.report',
                              description='Figures and report.md for AdaFilter / fine-tuning runs.')
  p.add_argument('workdirs', nargs='+', help='run directories (each with metrics.jsonl)')
  p.add_argument('--out', help='output directory (default: FIRST_WORKDIR/report)')
  args = p.parse_args(argv)
  try:
    md = write_report(args.workdirs, args.out or Path(args.workdirs[0]) / 'report')
  except (FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(md)
  return 0


if __name__ == '__main__':
  sys.exit(main())
