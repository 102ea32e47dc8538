r"""The paper's Table 2 from a fresh GPU machine, in one command:

  python -m adafilter_jax.apps.reproduce \
      --datasets caltech256_30,caltech256_60,stanford_dogs,aircraft,mit_indoor,ucf101,omniglot \
      --seeds 0,1,2 --manual_dir ~/downloads --root runs/table2 [--estimate_only]

Before anything trains, it

1. lists per dataset what is prepared already, what prepares itself offline, what
   downloads itself (TFDS's registered URL, size and SHA-256) and what must be downloaded
   by hand (URL, size, checksum, where to put it), and the pretrained weights (fetched
   from the Hugging Face Hub on first use). If a dataset is not prepared and a file it
   needs by hand is not in --manual_dir (or local weights are missing), it stops there,
   exit status 2, listing all of them: nothing is prepared, nothing trains;
2. estimates the grid's time on this machine from a few timed train and eval steps of
   each method at the config's size (its batch over all local devices, image size, dtype,
   synthetic images): train step x steps per epoch + eval step x eval batches, times the
   epochs and the seeds (a dataset not prepared yet counts its split sizes from
   data/datasets.py); GPU-hours = those hours x the local devices. Each method's timing
   is announced before its compile; on a CPU the steps run at CPU_TIMING_BATCH images a
   device (--timing_batch), their times scaled linearly to the config's batch, after a
   warning for ImageNet-sized networks. --estimate_only stops here, and gives the
   estimate even while files are missing;
3. prepares every dataset that is not (what downloads itself downloads);
4. runs the methods x datasets x seeds grid and writes Table 2 (experiments.py: a finished
   run is skipped, an unfinished one resumes, so the same command continues a grid;
   ``<root>/table.md``: ours, mean ± std over the seeds, beside the paper's number).

It takes every flag of the grid (python -m adafilter_jax.apps.experiments): --methods
(default: Table 2's five), --set key=value, --metric, --configs_dir.
"""
import dataclasses
import functools
import math
import sys
from typing import List, Optional, Sequence

from absl import logging
import jax
import numpy as np

from adafilter_jax.apps import experiments
from adafilter_jax.apps import jobs
from adafilter_jax.apps import needs
from adafilter_jax.apps.bench import steps as bench_steps
from adafilter_jax.data import datasets
from adafilter_jax.data import logs
from adafilter_jax.data import pipeline
from adafilter_jax.data import prepare
from adafilter_jax.train import config_files

REFUSED = 2  # exit status: files to download by hand first


@dataclasses.dataclass
class Cost:
  dataset: str
  method: str
  train_s: float     # one train step, the whole global batch
  eval_s: float      # one eval step of the same batch
  steps_per_epoch: int
  eval_steps: int    # per epoch
  epochs: int
  seeds: int

  @property
  def hours(self) -> float:
    epoch = self.train_s * self.steps_per_epoch + self.eval_s * self.eval_steps
    return epoch * self.epochs * self.seeds / 3600


def _sizes(config) -> tuple:
  """(num_train, num_eval, num_classes): the prepared dataset's, else Table 1's."""
  try:
    info = pipeline.load_dataset_info(config.data)
    return info.num_train, info.num_eval, info.num_classes
  except pipeline.DatasetNotPreparedError:
    spec = datasets.resolve(config.data.name)
    if spec is None or spec.num_train is None:
      raise ValueError(f'{config.data.name}: not prepared and no split sizes in '
                       'data/datasets.py, so its cost cannot be estimated') from None
    return spec.num_train, spec.num_eval, spec.num_classes


# On a CPU the steps are timed at this many images per device, not at the config's batch:
# a ResNet-50 train step at batch 64 and 224 px takes about 90 s and 10 GB there.
CPU_TIMING_BATCH = 4
# From this image size on, a CPU takes seconds a step: said before the first compile.
CPU_WARNING_SIZE = 112


def timing_batch(config, requested: Optional[int] = None) -> int:
  """The batch `config`'s steps are timed at: `requested` (--timing_batch), else the
  config's own on an accelerator, CPU_TIMING_BATCH per device on a CPU (at most the
  config's). Step times scale linearly to the config's batch (`Cost`)."""
  if requested:
    return min(requested, config.batch_size)
  if jax.default_backend() != 'cpu':
    return config.batch_size
  return min(CPU_TIMING_BATCH * jax.local_device_count(), config.batch_size)


def cpu_warning(configs) -> Optional[str]:
  """A line to print before timing image-sized networks on a CPU (None elsewhere)."""
  big = sorted({f'{c.model.arch} at {c.data.image_size} px' for c in configs
                if c.data.image_size >= CPU_WARNING_SIZE})
  if jax.default_backend() != 'cpu' or not big:
    return None
  return (f'warning: timing {", ".join(big)} on a CPU: each method compiles for a minute '
          'or more and takes seconds a step even at the small timing batch; the grid itself '
          'is for a GPU (--timing_steps 1 shortens the estimate).')


def _step_times(config, num_classes: int, steps: int, batch: int, log=print) -> tuple:
  """Median (train, eval) seconds of a step of `config` at `batch` on this machine."""
  config = config_files.override(config, ['pretrained='])  # speed needs no weights
  case = bench_steps.JaxCase(
      config.method, ('train', 'eval'), batch, config.data.image_size,
      config.model.dtype, config.parallel, config=config, num_classes=num_classes)
  log(f'    compiled in {case.compile_train + case.compile_eval:.0f} s; a warm-up and '
      f'{steps} train steps ...')
  case.train_step()  # compiled already; the first run allocates
  train = bench_steps.median_time(case.train_step, steps)
  log(f'    a warm-up and {steps} eval steps ...')
  case.eval_step()
  return train, bench_steps.median_time(case.eval_step, steps)


def estimate(configs: dict, num_seeds: int, steps: int, log=print,
             requested_batch: Optional[int] = None) -> List[Cost]:
  """One Cost per (dataset, method) of `configs`; a method's steps are timed once per
  (batch, image size, dtype, parallel) and reused across datasets of that size. Each
  timing says what it times before it starts (a compile can take minutes)."""
  timed, costs = {}, []
  warning = cpu_warning(configs.values())
  if warning:
    log(warning)
  for (dataset, method), config in configs.items():
    if method in jobs.RUNNERS:
      log(f'  {dataset}/{method}: trains in rounds of its own; not estimated')
      continue
    num_train, num_eval, num_classes = _sizes(config)
    key = (method, config.batch_size, config.data.image_size, config.model.dtype,
           config.parallel)
    if key not in timed:
      batch = timing_batch(config, requested_batch)
      scale = config.batch_size / batch
      scaled = f', times x{scale:.3g} for batch {config.batch_size}' if scale != 1 else ''
      log(f'  timing {method} at batch {batch}, {config.data.image_size} px: compiling, '
          f'then {steps} train and {steps} eval steps{scaled} ...')
      times = _step_times(config, num_classes, steps, batch, log)
      timed[key] = tuple(t * scale for t in times)
      log(f'  timed {method} at batch {config.batch_size}, {config.data.image_size} px: '
          f'train {timed[key][0]:.3f} s, eval {timed[key][1]:.3f} s a step')
    costs.append(Cost(dataset, method, *timed[key],
                      pipeline.steps_per_epoch(num_train, config.batch_size),
                      math.ceil(num_eval / config.batch_size), config.num_epochs, num_seeds))
  return costs


def format_estimate(costs: Sequence[Cost]) -> str:
  devices = jax.local_devices()
  lines = [f'Estimated on this machine ({len(devices)} x {devices[0].device_kind}):',
           '| dataset | method | train s/step | eval s/step | steps/epoch | eval steps | '
           'epochs | seeds | hours |', '|---' * 9 + '|']
  lines += [f'| {c.dataset} | {c.method} | {c.train_s:.4g} | {c.eval_s:.4g} | '
            f'{c.steps_per_epoch} | {c.eval_steps} | {c.epochs} | {c.seeds} | {c.hours:.4g} |'
            for c in costs]
  total = float(np.sum([c.hours for c in costs]))
  lines.append(f'Total: {total:.4g} hours here, {total * len(devices):.4g} '
               f'{devices[0].platform.upper()}-hours (input pipeline, compiles and '
               'checkpoints not counted).')
  return '\n'.join(lines)


def parser():
  p = experiments.parser()
  p.description = __doc__.split('\n\n')[0]
  p.add_argument('--manual_dir', default=None,
                 help='where the files downloaded by hand are (every dataset reads it)')
  p.add_argument('--timing_steps', type=int, default=3,
                 help='timed steps per method for the estimate (after a warm-up step)')
  p.add_argument('--timing_batch', type=int, default=None,
                 help="the estimate's batch, its step times scaled linearly to the "
                      "config's (default: the config's on a GPU, "
                      f'{CPU_TIMING_BATCH} per device on a CPU)')
  p.add_argument('--estimate_only', action='store_true',
                 help='stop after the list and the estimate (made even while files are '
                      'missing: the sizes of data/datasets.py stand in)')
  return p


def main(argv=None) -> int:
  args = parser().parse_args(argv)
  logs.quiet_libraries(logging.INFO)
  configs = {(d, m): experiments.make_config(d, m, args.seeds[0], args.root, args.overrides,
                                             args.configs_dir)
             for d in args.datasets for m in args.methods}
  plans = [needs.data_plan(d, configs[d, args.methods[0]], args.manual_dir)
           for d in args.datasets]
  weights, weights_missing = needs.weights_plan(configs.values())
  print(needs.format_plan(plans, weights, args.manual_dir), flush=True)
  if (any(p.blocked for p in plans) or weights_missing) and not args.estimate_only:
    print(needs.refusal(plans, weights_missing, args.manual_dir))
    return REFUSED
  log = functools.partial(print, flush=True)
  print(format_estimate(estimate(configs, len(args.seeds), args.timing_steps, log,
                                 args.timing_batch)), flush=True)
  if args.estimate_only:
    return 0
  for p in plans:
    if not p.prepared:
      prepare.prepare(p.name, data_dir=p.data_dir, manual_dir=args.manual_dir)
  return experiments.run(args)


if __name__ == '__main__':
  sys.exit(main())
