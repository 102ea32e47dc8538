"""The comparison grid: datasets x methods x seeds, one resumable run each, collected
into a Table-2-style table (mean +- std over seeds) next to the paper's numbers.

  python -m adafilter_jax.apps.experiments --datasets caltech256_30,mit_indoor \
      --methods finetune,finetune_half,random_policy,l2sp,adafilter --seeds 0,1,2 \
      --root runs/table2 [--set num_epochs=1 --set 'optim.decay_epochs=()'] [--collect_only]
  python -m adafilter_jax.apps.experiments --datasets cubs,stanford_cars,fgvc_aircraft \
      --methods erm,co_tuning,surgical,auto_rgn,bitfit --sample_rates 15,30,50,100 \
      --metric best_eval_top1 --root runs/tllib

A method here is a recipe (a method's own or one of its ablations,
``methods.recipe_names()``), run on a dataset of configs/transfer.py
(``--config configs/transfer.py:dataset=<dataset>,method=<method>``) in
``<root>/<dataset>/<method>/seed_<seed>``. A run whose
summary.json reports all its epochs is skipped; an unfinished one resumes from its
checkpoint (the loop does that). A recipe of `COMPLETED_FROM` is completed from an
earlier run: ``spottune_fixed`` takes its blocks from the same dataset and seed's
``spottune_global_k`` run, which must come first: the k blocks its policy fine-tunes most
on the training split (systems/global_k.py). Writes
``<root>/table.md`` and ``<root>/table.csv``.

``--sample_rates`` adds TLlib's sampling-rate axis: each run trains on that % of each
class's training images (``data.sample_rate``, data/sampling.py) for 100/rate times the
recipe's epochs and decay epochs, so about as many steps as on the whole set (TLlib trains
every rate for the same iterations), in ``<root>/<dataset>_<rate>pct/...``; the table has
a column per dataset and rate, next to TLlib's published number (methods/paper_numbers.py).
"""
import argparse
import csv
import functools
import io
import itertools
import json
import os
from typing import Callable, Dict, List, Optional, Sequence

from absl import logging
import numpy as np

from adafilter_jax.apps import jobs
from adafilter_jax.apps import needs
from adafilter_jax.data import logs
from adafilter_jax.data import cli_errors
from adafilter_jax.methods import paper_numbers
from adafilter_jax.methods import registry
from adafilter_jax.systems import decathlon
from adafilter_jax.systems import global_k
from adafilter_jax.train import config_files
from adafilter_jax.train import loop

# Recipes completed from an earlier finished run of the same dataset and seed, which must
# come first in --methods: recipe -> (the recipe it reads, (its config, the prior run's
# config, the prior run's workdir or None while unfinished) -> overrides).
COMPLETED_FROM = {'spottune_fixed': ('spottune_global_k', global_k.fixed_overrides)}

# AdaFilter's Table 2, the default grid.
TABLE2 = ('finetune', 'finetune_half', 'random_policy', 'l2sp', 'adafilter')


def column(dataset: str, sample_rate: Optional[int] = None) -> str:
  """The grid's name for a dataset at a sampling rate (%): its folder under the root."""
  return dataset if sample_rate is None else f'{dataset}_{sample_rate}pct'


def workdir_for(root: str, dataset: str, method: str, seed: int,
                sample_rate: Optional[int] = None) -> str:
  return os.path.join(root, column(dataset, sample_rate), method, f'seed_{seed}')


def at_sample_rate(config, rate: int):
  """`config` on `rate` % of each class's training images for about as many steps as on
  all of them: its epochs and decay epochs times 100/rate."""
  if not 0 < rate <= 100:
    raise ValueError(f'sample rate {rate}: a percentage in (0, 100]')
  scale = lambda epochs: max(1, round(epochs * 100 / rate))
  decays = tuple(scale(e) for e in config.optim.decay_epochs)
  return config_files.override(config, [f'data.sample_rate={rate / 100}',
                                        f'num_epochs={scale(config.num_epochs)}',
                                        f'optim.decay_epochs={decays!r}'])


def read_summary(workdir: str) -> Optional[dict]:
  path = os.path.join(workdir, 'summary.json')
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def make_config(dataset: str, method: str, seed: int, root: str,
                overrides: Sequence[str] = (), configs_dir: str = 'configs',
                sample_rate: Optional[int] = None):
  """Recipe `method` (``methods.recipe_names()``) on `dataset` (configs/transfer.py's),
  with `overrides` (``key=value``, as main.py's ``--config.key=value``), at `sample_rate` %
  if given."""
  if method not in registry.recipe_names():
    raise ValueError(f'unknown recipe {method!r}; known: {registry.recipe_names()}')
  path = os.path.join(configs_dir, 'transfer.py')
  config = config_files.load(f'{path}:dataset={dataset},method={method}',
                             [f'seed={seed}', *overrides])
  if sample_rate is not None:
    config = at_sample_rate(config, sample_rate)
  if method in COMPLETED_FROM:
    prior, fill = COMPLETED_FROM[method]
    workdir = workdir_for(root, dataset, prior, seed, sample_rate)
    prior_config = make_config(dataset, prior, seed, root, overrides, configs_dir, sample_rate)
    summary = read_summary(workdir)
    finished = summary is not None and summary.get('epochs', -1) >= prior_config.num_epochs
    config = config_files.override(config, fill(config, prior_config, workdir if finished else None))
  return config


def run_grid(datasets: Sequence[str], methods: Sequence[str], seeds: Sequence[int],
             root: str, overrides: Sequence[str] = (), runner: Optional[Callable] = None,
             make: Callable = make_config,
             sample_rates: Sequence[Optional[int]] = (None,)) -> Dict[str, str]:
  """Runs every missing (dataset, sample rate, method, seed); returns workdir -> 'done' |
  'skipped' | the error. A failed run is logged and the grid goes on (the table shows
  what exists)."""
  status = {}
  for dataset, rate in itertools.product(datasets, sample_rates):
    for method in methods:
      for seed in seeds:
        workdir = workdir_for(root, dataset, method, seed, rate)
        try:
          config = make(dataset, method, seed, root, overrides, sample_rate=rate)
          summary = read_summary(workdir)
          if summary and summary.get('epochs', -1) >= config.num_epochs:
            status[workdir] = 'skipped'
            continue
          logging.info('running %s', workdir)
          (runner or jobs.runner(config.method))(config, workdir)
          status[workdir] = 'done'
        except loop.Interrupted:
          raise  # checkpoint saved: the same command resumes the grid
        except Exception as e:  # pylint: disable=broad-except
          logging.exception('%s failed', workdir)
          status[workdir] = f'failed: {e!r}'
  return status


def collect(root: str, datasets: Sequence[str], methods: Sequence[str],
            metric: str = 'final_eval_top1',
            sample_rates: Sequence[Optional[int]] = (None,)) -> List[dict]:
  """One row per (method, dataset, sample rate): top-1 (%) mean and std over the finished
  seeds."""
  rows = []
  for method in methods:
    for dataset, rate in itertools.product(datasets, sample_rates):
      accs, seeds = [], []
      base = os.path.join(root, column(dataset, rate), method)
      for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        summary = read_summary(os.path.join(base, name))
        if name.startswith('seed_') and summary and summary.get(metric) is not None:
          accs.append(100.0 * summary[metric])  # the loop writes fractions
          seeds.append(int(name[len('seed_'):]))
      rows.append(dict(
          method=method, dataset=dataset, sample_rate=rate, n=len(accs), seeds=seeds,
          mean=float(np.mean(accs)) if accs else None,
          std=float(np.std(accs, ddof=1)) if len(accs) > 1 else (0.0 if accs else None),
          paper=paper_numbers.top1(dataset, method, rate)))
  return rows


def _cell(row) -> str:
  ours = '—' if row['mean'] is None else (
      f"{row['mean']:.2f} ± {row['std']:.2f}" if row['n'] > 1 else f"{row['mean']:.2f}")
  paper = '—' if row['paper'] is None else f"{row['paper']:.2f}"
  return f'{ours} ({paper})'


def _heading(row) -> str:
  rate = row.get('sample_rate')
  return row['dataset'] if rate is None else f"{row['dataset']} {rate}%"


def to_markdown(rows: List[dict], metric: str = 'final_eval_top1') -> str:
  datasets = list(dict.fromkeys(_heading(r) for r in rows))
  methods = list(dict.fromkeys(r['method'] for r in rows))
  cell = {(r['method'], _heading(r)): r for r in rows}
  n = sorted({r['n'] for r in rows})
  theirs = ("TLlib's number" if any(r.get('sample_rate') is not None for r in rows)
            else "the paper's number")
  lines = [f'Top-1 (%), {metric}: ours, mean ± std over seeds (n = '
           f'{"/".join(map(str, n))}), and ({theirs}).', '',
           '| method | ' + ' | '.join(datasets) + ' |',
           '|---' * (len(datasets) + 1) + '|']
  lines += [f'| {m} | ' + ' | '.join(_cell(cell[m, d]) for d in datasets) + ' |'
            for m in methods]
  return '\n'.join(lines) + '\n'


def to_csv(rows: List[dict]) -> str:
  out = io.StringIO()
  fields = ['method', 'dataset', 'sample_rate', 'n', 'mean', 'std', 'paper', 'seeds']
  writer = csv.DictWriter(out, fields, lineterminator='\n')
  writer.writeheader()
  for r in rows:
    writer.writerow({**r, 'seeds': ' '.join(map(str, r['seeds']))})
  return out.getvalue()


def write_table(root: str, datasets, methods, metric: str = 'final_eval_top1',
                sample_rates: Sequence[Optional[int]] = (None,)) -> str:
  rows = collect(root, datasets, methods, metric, sample_rates)
  os.makedirs(root, exist_ok=True)
  md = to_markdown(rows, metric)
  with open(os.path.join(root, 'table.md'), 'w') as f:
    f.write(md)
  with open(os.path.join(root, 'table.csv'), 'w') as f:
    f.write(to_csv(rows))
  return md


def parser() -> argparse.ArgumentParser:
  """The grid's command line (apps/reproduce.py adds its own flags to it)."""
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  split = lambda s: [x.strip() for x in s.split(',') if x.strip()]
  parser.add_argument('--datasets', type=split, required=True,
                       help="comma-separated datasets of configs/transfer.py's")
  parser.add_argument('--methods', type=split, default=list(TABLE2),
                       help='comma-separated recipes (default: Table 2)')
  parser.add_argument('--configs_dir', default='configs', help='the folder of the config files')
  parser.add_argument('--seeds', type=lambda s: [int(x) for x in split(s)], default=[0, 1, 2])
  parser.add_argument('--root', default='runs/experiments')
  parser.add_argument('--set', dest='overrides', action='append', default=[],
                       help='config override key=value, applied to every run (repeatable)')
  parser.add_argument('--metric', default='final_eval_top1', choices=['final_eval_top1',
                                                                       'best_eval_top1'])
  parser.add_argument('--sample_rates', type=lambda s: [int(x) for x in split(s)],
                      default=[None], help="TLlib's axis: %% of each class's training "
                      'images, e.g. 15,30,50,100 (default: the recipe\'s data)')
  parser.add_argument('--collect_only', action='store_true', help='only write the table')
  return parser


def run(args) -> int:
  """Runs the grid `parser()` describes (unless --collect_only) and writes its tables;
  the exit status: 1 if a run failed."""
  logs.quiet_libraries(logging.INFO)
  status = {}
  if not args.collect_only:
    make = functools.partial(make_config, configs_dir=args.configs_dir)
    check_ready(args, make)
    status = run_grid(args.datasets, args.methods, args.seeds, args.root, args.overrides,
                      make=make, sample_rates=args.sample_rates)
  md = write_table(args.root, args.datasets, args.methods, args.metric, args.sample_rates)
  print(md)
  if decathlon.collect([args.root], args.metric):  # Decathlon domains: Table 3, with S
    print(decathlon.write_table([args.root], os.path.join(args.root, 'decathlon.md'),
                                args.metric))
  return exit_code(status)


def check_ready(args, make: Callable = make_config):
  """Raises ValueError listing every dataset not prepared and local weights missing, once,
  before the grid's first run (as reproduce's list does; the grid prepares nothing)."""
  configs = {(d, m): make(d, m, args.seeds[0], args.root, args.overrides)
             for d in args.datasets for m in args.methods}
  plans = [needs.data_plan(d, configs[d, args.methods[0]], None) for d in args.datasets]
  refusal = needs.grid_refusal(plans, needs.weights_plan(configs.values())[1])
  if refusal:
    raise ValueError(refusal)


def exit_code(status: Dict[str, str]) -> int:
  """Prints the failed runs of `run_grid`'s status; 1 if any failed, else 0."""
  failed = {k: v for k, v in status.items() if v.startswith('failed')}
  for workdir, why in failed.items():
    print(f'{workdir}: {why}')
  return 1 if failed else 0


def main(argv=None):
  try:
    return run(parser().parse_args(argv))
  except cli_errors.USER_ERRORS as e:  # a dataset not prepared, a recipe or key unknown
    return cli_errors.report(e)


if __name__ == '__main__':
  raise SystemExit(main())
