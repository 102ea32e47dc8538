"""python -m adafilter_jax.apps.study --config configs/study/digits.py [--root DIR]
[--set key=value ...] [--collect_only] [--parts grid,levers]

A part of the study: --set study.targets="('digits_shots10',)" --parts grid (the cells
of one target); --parts levers (the levers only)."""
import argparse
import os

from absl import logging
import jax

from adafilter_jax.apps import experiments
from adafilter_jax.apps.study import run
from adafilter_jax.apps.study import tables
from adafilter_jax.data import logs


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--config', required=True, help='a study config, configs/study/*.py')
  parser.add_argument('--root', default='runs/study', help='where the runs and study.md go')
  parser.add_argument('--configs_dir', default='configs')
  parser.add_argument('--set', dest='overrides', action='append', default=[],
                      help='config override key=value for every run (repeatable)')
  parser.add_argument('--collect_only', action='store_true', help='only write study.md')
  parser.add_argument('--parts', default='grid,levers',
                      type=lambda s: [x.strip() for x in s.split(',') if x.strip()],
                      help="what to run: 'grid' (methods x cells), 'levers', or both")
  args = parser.parse_args(argv)
  logs.quiet_libraries(logging.INFO)
  # Every seed of a (cell, method) compiles the same steps: compile them once.
  jax.config.update('jax_compilation_cache_dir', os.path.join(args.root, 'jax_cache'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)
  status = {}
  if not args.collect_only:
    status = run.run_study(args.config, args.root, args.overrides, args.configs_dir,
                           parts=args.parts)
  print(tables.write(args.config, args.root, args.overrides))
  return experiments.exit_code(status)


if __name__ == '__main__':
  raise SystemExit(main())
