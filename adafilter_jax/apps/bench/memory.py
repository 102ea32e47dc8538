"""Peak memory of one train step for each memory setting, and which GPUs it fits.

  PYTHONPATH=. python -m adafilter_jax.apps.bench.memory     # the docs/training.md table
  PYTHONPATH=. python -m adafilter_jax.apps.bench.memory --variants ada --settings plain,remat \
      --batch 32 --res 224

Compiles only: no step runs and no weight is made (the train state is abstract), so it
runs on any machine, a laptop's CPU included, and says what a GPU would need. Peak =
XLA's account of the compiled step (arguments + outputs + temporaries - donated
aliases; bench/steps.py's), for the project's own train step (train/steps.py under
train/parallel.py's jit, state donated) of each variant of bench/steps.py at each
setting of SETTINGS. A GPU's compile differs (conv algorithms and their workspaces,
layouts, fusion), so on a CPU this approximates the GPU's figure: BENCHMARKS.md
compares the two where both were measured.

XLA:CPU removes `jax.checkpoint`'s optimization barriers before its CSE passes, which
then merge the recomputed forward back into the first one (docs/speed.md), so a CPU
compile would show no saving from remat. XLA:GPU keeps them until after scheduling.
On a CPU this command compiles with that pass off (train/parallel.py's KEEP_BARRIERS), as
a GPU would, and as main.py compiles a step with remat or lean units.

A setting fits a card when its peak is at most JAX's default share of the card's
memory (75 %, XLA_PYTHON_CLIENT_MEM_FRACTION); '95%' marks those that fit only when
that share is raised to 0.95.
"""
import argparse
import datetime
import time

import jax
import numpy as np

from adafilter_jax import methods
from adafilter_jax.apps.bench import steps as bench_steps
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps

# name -> config overrides, as main.py's --config.key=value takes them.
SETTINGS = {
    'plain': [],
    'remat': ['model.remat=True'],
    'accum2': ['grad_accum_steps=2'],
    'accum4': ['grad_accum_steps=4'],
    'bf16': ['model.dtype=bfloat16'],
    'remat+bf16': ['model.remat=True', 'model.dtype=bfloat16'],
}
CARDS_GIB = (16, 24, 40, 80)
JAX_SHARE, RAISED_SHARE = 0.75, 0.95


def compiled_train_step(variant: str, setting: str, batch: int, res: int,
                        configs_dir: str = 'configs'):
  """The variant's train step at `setting`, compiled for an abstract state and batch."""
  config = bench_steps.make_config(variant, configs_dir=configs_dir, extra=SETTINGS[setting])
  if batch % config.grad_accum_steps:
    raise ValueError(f'--batch {batch} does not split into {config.grad_accum_steps} '
                     f'micro-batches (setting {setting!r}).')
  return compiled_config_step(config, batch, res)


def compiled_config_step(config, batch: int, res: int):
  """`config`'s train step (train/steps.py under train/parallel.py's jit, state donated),
  compiled for an abstract state and a batch of `batch` images of `res` pixels; on a CPU
  with the barriers kept, as a GPU keeps them."""
  method = methods.get(config.method)
  model = method.build_model(config, bench_steps.NUM_CLASSES, None)
  variables = jax.eval_shape(lambda: state_lib.abstract_variables(model, res))
  state = jax.eval_shape(lambda v: state_lib.create_state(method, model, v, config,
                                                         steps_per_epoch=100), variables)
  # The pretrained variables, on the device beside the state, for the methods that read them.
  anchor = variables if method.needs_pretrained_params else None
  spec = jax.ShapeDtypeStruct
  inputs = {'image': spec((batch, res, res, 3), np.uint8), 'label': spec((batch,), np.int32),
            'mask': spec((batch,), bool), 'index': spec((batch,), np.int32)}
  train = parallel_lib.Parallel('jit').train_step(steps.make_train_step(method, config, None))
  lowered = train.lower(state, inputs, jax.random.key(0), anchor)
  return lowered.compile(parallel_lib.KEEP_BARRIERS if jax.default_backend() == 'cpu' else None)


def measure(variants, settings, batch, res, log=print, configs_dir='configs') -> dict:
  """{(variant, setting): {'arguments', 'temporaries', 'peak' (bytes), 'compile_s'}}."""
  out = {}
  for variant in variants:
    for setting in settings:
      t = time.perf_counter()
      compiled = compiled_train_step(variant, setting, batch, res, configs_dir)
      m = compiled.memory_analysis()
      out[variant, setting] = dict(arguments=m.argument_size_in_bytes,
                                   temporaries=m.temp_size_in_bytes,
                                   peak=bench_steps.peak_bytes(compiled),
                                   compile_s=time.perf_counter() - t)
      log(f'  {variant} {setting}: peak {out[variant, setting]["peak"] / 2**30:.2f} GiB '
          f'(compiled in {out[variant, setting]["compile_s"]:.0f} s)')
  return out


def fits(peak: float, card_gib: int) -> str:
  if peak <= JAX_SHARE * card_gib * 2**30:
    return 'yes'
  return '95%' if peak <= RAISED_SHARE * card_gib * 2**30 else 'no'


def table(results: dict, batch: int, res: int) -> str:
  gib = lambda b: f'{b / 2**30:.2f}'
  lines = [f'### train step, batch {batch}, {res} px: peak memory (GiB) and the cards it fits',
           '', '| variant | setting | arguments | temporaries | peak | x plain | '
           + ' | '.join(f'{c} GB' for c in CARDS_GIB) + ' |',
           '|---|---|---|---|---|---|' + '---|' * len(CARDS_GIB)]
  for (variant, setting), r in results.items():
    plain = results.get((variant, 'plain'))
    ratio = f"{r['peak'] / plain['peak']:.2f}" if plain else '–'
    lines.append(f"| {variant} | {setting} | {gib(r['arguments'])} | {gib(r['temporaries'])} | "
                 f"{gib(r['peak'])} | {ratio} | "
                 + ' | '.join(fits(r['peak'], c) for c in CARDS_GIB) + ' |')
  return '\n'.join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--variants', default='ft,ada',
                      help=f'comma list of bench/steps.py variants {sorted(bench_steps.VARIANTS)}')
  parser.add_argument('--settings', default=','.join(SETTINGS),
                      help=f'comma list of {list(SETTINGS)}')
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--res', type=int, default=224)
  parser.add_argument('--configs_dir', default='configs')
  args = parser.parse_args(argv)
  variants = [v for v in args.variants.split(',') if v]
  settings = [s for s in args.settings.split(',') if s]
  for name, known in ((variants, bench_steps.VARIANTS), (settings, SETTINGS)):
    unknown = sorted(set(name) - set(known))
    if unknown:  # a typo fails now, not after the first compiles
      parser.error(f'unknown {unknown}; known: {sorted(known)}')
  print(f'# adafilter_jax.apps.bench.memory {datetime.date.today()} '
        f'backend={jax.default_backend()} devices={jax.devices()} jax={jax.__version__}',
        flush=True)
  results = measure(variants, settings, args.batch, args.res,
                    log=lambda s: print(s, flush=True), configs_dir=args.configs_dir)
  print(table(results, args.batch, args.res), flush=True)


if __name__ == '__main__':
  main()
