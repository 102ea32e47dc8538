"""Speed of one train step and one eval step, every variant side by side in ONE process.

  PYTHONPATH=. python -m adafilter_jax.apps.bench.steps                      # the BENCHMARKS.md table
  PYTHONPATH=. python -m adafilter_jax.apps.bench.steps --res 112 --rounds 3 --variants ft,ada,ada_fast
  PYTHONPATH=. python -m adafilter_jax.apps.bench.steps --layers   # per layer: plain vs each eval_impl
  # on a GPU (batch 64): both dtypes, both parallel strategies, eval-only variants
  PYTHONPATH=. python -m adafilter_jax.apps.bench.steps --res 224 --dtype float32,bfloat16 \
      --parallel jit,pmap --variants ft,ada,ada_fused_all:eval,torch

The machine is shared and noisy, so variants are timed interleaved (round-robin), each
round's time is the median of `--steps` steps, and the reported time is the median over
rounds; ratios are taken between variants of the same run. Each variant is a recipe
(adafilter_jax/methods/) with config overrides (VARIANTS), built by its method as `main.py`
builds it; the steps are the
project's real ones (train/steps.py: SGD momentum with per-group rates, BN stats update,
gate rng, softmax CE; the eval step with its gate fractions), placed and compiled by
train/parallel.py for `--parallel` with the state donated, the train step with main.py's
XLA options (on a CPU, barriers kept for lean units and remat). `name:train` / `name:eval`
times one of the two (an eval_impl does not change the train step). Peak memory is XLA's
own account of the compiled step (arguments + outputs + temporaries - aliased), not a
process RSS. The torch peer is torchvision's ResNet-50 (torch_peer.py), channels_last,
SGD momentum, same shapes, eager, on the same device (bf16: autocast); its memory is
torch's peak allocation over one step. Without torch installed (requirements.txt has
none; requirements-test.txt has it) the peer's rows are left out, with a note first.
"""
import argparse
import datetime
import functools
import importlib.util
import math
import os
import platform
import statistics
import time
from typing import Optional

import jax
import numpy as np

from adafilter_jax.train import config_files
from adafilter_jax import methods
from adafilter_jax.models import gated_fast, gates, layers, transform
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps

NUM_CLASSES = 100

# name -> (recipe, config overrides as main.py's --config.key=value
# takes them). 'ft' = plain fine-tuning (all params train).
VARIANTS = {
    'ft': ('finetune', []),
    'ft_mixed': ('finetune', ['model.conv_impl=mixed']),
    'ada': ('adafilter', []),
    'ada_fused': ('adafilter', ['adafilter.eval_impl=fused']),
    'ada_fused_all': ('adafilter', ['adafilter.eval_impl=fused_all']),
    # The fastest on CPU (docs/speed.md).
    'ada_fast': ('adafilter', ['adafilter.eval_impl=fused', 'model.conv_impl=mixed']),
    'spottune': ('spottune', []),
    # config.model.lean_units (models/lean.py), at each adafilter.recompute_s (ada_lean:
    # the default, 'expanding').
    'ft_lean': ('finetune', ['model.lean_units=True']),
    'ada_lean': ('adafilter', ['model.lean_units=True']),
    'ada_lean_keep': ('adafilter', ['model.lean_units=True', 'adafilter.recompute_s=none']),
    'ada_lean_rs': ('adafilter', ['model.lean_units=True', 'adafilter.recompute_s=all']),
}
MODES = ('train', 'eval')
DEFAULT = 'ft,ft_mixed,ada,ada_fast,spottune,torch'
# On a GPU: what the H200 run of BENCHMARKS.md left unmeasured, beside the references.
GPU_DEFAULT = 'ft,ada,ada_fused_all:eval,spottune,torch'


def parse_variant(spec):
  """'ada' -> ('ada', both modes); 'ada_fused:eval' -> ('ada_fused', ('eval',))."""
  name, _, mode = spec.partition(':')
  if name not in VARIANTS and name != 'torch':
    raise ValueError(f'unknown variant {name!r}; known: {sorted(VARIANTS)} and torch')
  if mode and mode not in MODES:
    raise ValueError(f'variant {spec!r}: the mode after ":" must be one of {MODES}')
  return name, (mode,) if mode else MODES


def make_config(name, dtype='float32', parallel='jit', configs_dir='configs', extra=()):
  """The config of variant `name`: its recipe (the paper's rates, momentum, decay; read
  by path, as main.py reads it) with the variant's overrides and `extra` ones, from
  scratch."""
  recipe, overrides = VARIANTS[name]
  path = os.path.join(configs_dir, f'transfer.py:method={recipe}')
  return config_files.load(path, ['pretrained=', f'model.dtype={dtype}',
                                 f'parallel={parallel}', *overrides, *extra])


def peak_bytes(compiled):
  m = compiled.memory_analysis()
  if m is None:
    return float('nan')
  return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
          - m.alias_size_in_bytes)


def _compile(fn, *args, options=None):
  """`fn` compiled for `args` with XLA `options` (train/parallel.py's compiler_options)."""
  t = time.perf_counter()
  compiled = fn.lower(*args).compile(options)
  return compiled, time.perf_counter() - t, peak_bytes(compiled)


class JaxCase:

  def __init__(self, name, modes, batch, res, dtype, parallel, configs_dir='configs',
               config=None, num_classes=NUM_CLASSES):
    """Variant `name`, or (the reproduction's estimate) a whole `config` as it trains."""
    config = config or make_config(name, dtype, parallel, configs_dir)
    method = methods.get(config.method)
    strategy = parallel_lib.Parallel(parallel)
    strategy.check_batch(batch, '--batch')
    model = method.build_model(config, num_classes, strategy.bn_axis_name)
    variables = state_lib.init_variables(model, config, res, None)
    self.state = strategy.put_state(
        state_lib.create_state(method, model, variables, config, steps_per_epoch=100))
    # What the loop passes a method that reads the pretrained network (L2-SP, DELTA).
    self.anchor = strategy.put_state(variables) if method.needs_pretrained_params else None
    rng = np.random.RandomState(0)
    # uint8 images, as the input pipeline delivers them (the steps normalise); kept on
    # the device, so that the input transfer is not timed.
    host = {'image': rng.randint(0, 256, (batch, res, res, 3)).astype(np.uint8),
            'label': rng.randint(0, num_classes, batch).astype(np.int32),
            'mask': np.ones(batch, bool), 'index': np.arange(batch, dtype=np.int32)}
    self.batch = jax.device_put(strategy.put_batch(host),
                                strategy.stacked if parallel == 'pmap' else strategy.sharded)
    self.key = jax.random.key(0)
    self.modes = modes
    self.compile_train = self.compile_eval = 0.0
    self.mem_train = self.mem_eval = float('nan')
    if 'train' in modes:
      train = strategy.train_step(steps.make_train_step(method, config, strategy.bn_axis_name))
      self.train, self.compile_train, self.mem_train = _compile(
          train, self.state, self.batch, self.key, self.anchor,
          options=parallel_lib.compiler_options(config))
    if 'eval' in modes:
      evaluate = strategy.eval_step(steps.make_eval_step(config, strategy.bn_axis_name))
      self.eval, self.compile_eval, self.mem_eval = _compile(
          evaluate, self.state, self.batch, self.key)

  def train_step(self):
    self.state, metrics = self.train(self.state, self.batch, self.key, self.anchor)
    jax.block_until_ready(metrics)

  def eval_step(self):
    jax.block_until_ready(self.eval(self.state, self.batch, self.key))


class TorchCase:

  def __init__(self, modes, batch, res, dtype):
    import contextlib
    import torch
    from adafilter_jax.apps.bench import torch_peer
    self.torch = torch
    self.cuda = jax.default_backend() == 'gpu' and torch.cuda.is_available()
    device = 'cuda' if self.cuda else 'cpu'
    if self.cuda:
      torch.backends.cudnn.benchmark = True  # torch's usual fast setting for fixed shapes
    else:
      torch.set_num_threads(_cores())
    self.autocast = (functools.partial(torch.autocast, device, dtype=torch.bfloat16)
                     if dtype == 'bfloat16' else contextlib.nullcontext)
    self.net = torch_peer.resnet50(NUM_CLASSES).to(device, memory_format=torch.channels_last)
    self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    self.x = torch.randn(batch, 3, res, res, device=device).to(
        memory_format=torch.channels_last)
    self.y = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    self.modes = modes
    self.compile_train = self.compile_eval = 0.0
    self.mem_train = self.mem_eval = float('nan')
    if self.cuda:  # peak allocation of one step, once a first one allocated and autotuned
      for mode in modes:
        step = getattr(self, f'{mode}_step')
        step()
        torch.cuda.reset_peak_memory_stats()
        step()
        setattr(self, f'mem_{mode}', float(torch.cuda.max_memory_allocated()))

  def _sync(self):
    if self.cuda:
      self.torch.cuda.synchronize()

  def train_step(self):
    self.net.train()
    self.opt.zero_grad(set_to_none=True)
    with self.autocast():
      logits = self.net(self.x)
      loss = self.torch.nn.functional.cross_entropy(logits.float(), self.y)
    loss.backward()
    self.opt.step()
    self._sync()

  def eval_step(self):
    self.net.eval()
    with self.torch.no_grad(), self.autocast():
      self.net(self.x)
    self._sync()


def _cores():
  return len(os.sched_getaffinity(0))


def median_time(fn, steps_):
  """Median seconds of `steps_` calls of `fn`."""
  ts = []
  for _ in range(steps_):
    t = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - t)
  return statistics.median(ts)


def run(specs, batch, res, dtype, parallel, rounds, steps_, log=print, configs_dir='configs'):
  """{name: {'train', 'eval' (median s, nan if not timed), 'rounds', compile, memory}}."""
  cases = {}
  for spec in specs:
    name, modes = parse_variant(spec)
    t = time.perf_counter()
    cases[name] = (TorchCase(modes, batch, res, dtype) if name == 'torch' else
                   JaxCase(name, modes, batch, res, dtype, parallel, configs_dir))
    log(f'  built {spec} in {time.perf_counter() - t:.0f}s')
  for c in cases.values():  # warm-up (first runs allocate)
    for mode in c.modes:
      getattr(c, f'{mode}_step')()
  times = {n: {m: [] for m in c.modes} for n, c in cases.items()}
  for r in range(rounds):
    for n, c in cases.items():  # interleaved: all variants see the same machine load
      for mode in c.modes:
        times[n][mode].append(median_time(getattr(c, f'{mode}_step'), steps_))
    log(f'  round {r + 1}/{rounds}: ' + ' '.join(
        f'{n}=' + '/'.join(f'{t[-1]:.3f}' for t in times[n].values()) + 's' for n in cases))
  nan = float('nan')
  return {n: dict(train=statistics.median(t['train']) if 'train' in t else nan,
                  eval=statistics.median(t['eval']) if 'eval' in t else nan, rounds=t,
                  compile_train=cases[n].compile_train, compile_eval=cases[n].compile_eval,
                  mem_train=cases[n].mem_train, mem_eval=cases[n].mem_eval)
          for n, t in times.items()}


def _best(results, prefix, mode):
  """The fastest variant whose name starts with `prefix` in `mode`, or None."""
  timed = [n for n in results if n.startswith(prefix) and not math.isnan(results[n][mode])]
  return min(timed, key=lambda n: results[n][mode], default=None)


def table(results, batch, res, dtype='float32', parallel='jit'):
  lines = [f'### batch {batch}, {res} px, {dtype}, {parallel}', '',
           '| variant | train img/s | eval img/s | train step s | eval s | compile train+eval s'
           ' | peak mem train MiB | peak mem eval MiB |', '|---|---|---|---|---|---|---|---|']
  num = lambda v, spec: '–' if math.isnan(v) else format(v, spec)  # not timed / not known
  for n, r in results.items():
    lines.append(f"| {n} | {num(batch / r['train'], '.2f')} | {num(batch / r['eval'], '.2f')} | "
                 f"{num(r['train'], '.4f')} | {num(r['eval'], '.4f')} | "
                 f"{r['compile_train'] + r['compile_eval']:.1f} | "
                 f"{num(r['mem_train'] / 2**20, '.0f')} | {num(r['mem_eval'] / 2**20, '.0f')} |")
  lines.append('')
  base = results.get('ft')
  if base is not None:
    lines += ['Ratios to `ft` (plain fine-tuning, lax.conv) in this run (time, lower is better;'
              ' memory = peak); in brackets the median over rounds of the within-round ratio,'
              ' robust to load swings between rounds:', '']
    for n, r in results.items():
      if n == 'ft':
        continue
      parts = []
      for mode in MODES:
        if mode in r['rounds'] and mode in base['rounds']:
          per = statistics.median(a / b for a, b in zip(r['rounds'][mode], base['rounds'][mode]))
          parts.append(f'{mode} {r[mode] / base[mode]:.2f}x ({per:.2f}x)')
      if not math.isnan(r['mem_train']):
        parts.append(f"train memory {r['mem_train'] / base['mem_train']:.2f}x")
      lines.append(f'- {n}: ' + ', '.join(parts))
    lines.append('')
  for mode in MODES:
    ref = _best(results, 'ft', mode)
    if ref is None:
      continue
    for prefix in ('ada', 'spottune'):
      best = _best(results, prefix, mode)
      if best is not None:
        lines.append(f'- fastest {prefix} {mode} ({best}) / fastest plain ({ref}): '
                     f'{results[best][mode] / results[ref][mode]:.2f}x')
    if 'torch' in results and mode in results['torch']['rounds']:
      lines.append(f'- fastest JAX plain {mode} ({ref}) / torch: '
                   f"{results[ref][mode] / results['torch'][mode]:.2f}x")
  return '\n'.join(lines)


# ResNet-50's distinct conv shapes at 224 px: (input map, Cin, Cout, kernel, stride).
RESNET50_CONV_SHAPES = [
    (224, 3, 64, 7, 2), (56, 64, 64, 1, 1), (56, 64, 64, 3, 1), (56, 64, 256, 1, 1),
    (56, 256, 64, 1, 1), (56, 256, 512, 1, 2), (56, 128, 128, 3, 2), (28, 512, 128, 1, 1),
    (28, 128, 128, 3, 1), (28, 512, 1024, 1, 2), (14, 1024, 256, 1, 1), (14, 256, 256, 3, 1),
    (14, 256, 1024, 1, 1), (14, 1024, 2048, 1, 2), (7, 512, 512, 3, 1), (7, 512, 2048, 1, 1)]


def _unit(eval_impl: Optional[str], x, features: int, kernel_size: int, strides: int):
  """One unit, called ``(x, train=False)``: a plain ConvBN, or (`eval_impl` given) its
  AdaFilter form through the transform, with a random gate."""
  unit = layers.ConvBN(features, kernel_size, strides, kernel_size // 2)
  if eval_impl is None:
    return unit
  gate = functools.partial(gates.RandomGate, gated_layers='all', through_sigmoid=False, p=0.5)
  return transform.gate(unit, x, False, gate=gate, eval_impl=eval_impl)


def layer_table(batch, rounds):
  """Per-layer eval forward ms of one unit: plain vs each AdaFilter eval_impl."""
  cols = ('plain',) + tuple(gated_fast.EVAL_IMPLS)
  lines = [f'### eval forward of one unit, batch {batch}, ms (median of {rounds}, interleaved)',
           '', '| layer | ' + ' | '.join(cols) + " | 'fused' picks | fused / plain |",
           '|' + '---|' * (len(cols) + 3)]
  for h, cin, cout, k, stride in RESNET50_CONV_SHAPES:
    x = jax.random.normal(jax.random.key(0), (batch, h, h, cin))
    fns = {}
    for c in cols:
      unit = _unit(None if c == 'plain' else c, x, cout, k, stride)
      v = unit.init({'params': jax.random.key(1), 'gate': jax.random.key(2)}, x, train=False)
      fns[c] = jax.jit(functools.partial(unit.apply, v, train=False,
                                         rngs={'gate': jax.random.key(3)}))
      jax.block_until_ready(fns[c](x))
    times = {c: [] for c in cols}
    for _ in range(rounds):
      for c in cols:
        times[c].append(median_time(lambda: jax.block_until_ready(fns[c](x)), 1))
    ms = {c: 1e3 * statistics.median(t) for c, t in times.items()}
    picks = gated_fast.per_example_impl('fused', x.shape, k, stride, k // 2) or 'two-branch'
    lines.append(f'| {k}x{k} {cin}->{cout} s{stride} @{h} | '
                 + ' | '.join(f'{ms[c]:.1f}' for c in cols)
                 + f" | {picks} | {ms['fused'] / ms['plain']:.2f} |")
  return '\n'.join(lines)


def without_absent_torch(specs, log=print):
  """`specs` without the torch peer when torch is not installed (requirements.txt leaves
  it out), said first: it failed only after every JAX variant had compiled."""
  if importlib.util.find_spec('torch') is not None:
    return specs
  kept = [s for s in specs if parse_variant(s)[0] != 'torch']
  if len(kept) < len(specs):
    log('# torch is not installed (pip install -r requirements-test.txt): the torch peer\'s '
        'rows are left out.')
  return kept


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--variants', default=None,
                       help=f'comma list of {list(VARIANTS)} and torch, each optionally :train or '
                       f':eval; default {DEFAULT} on CPU, {GPU_DEFAULT} on a GPU')
  parser.add_argument('--res', default='224,112', help='comma list of resolutions')
  parser.add_argument('--batch', type=int, default=None, help='default 8 on CPU, 64 on a GPU')
  parser.add_argument('--dtype', default='float32', help='comma list: float32, bfloat16')
  parser.add_argument('--parallel', default='jit',
                       help='comma list of train/parallel.py strategies: jit, pmap')
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--steps', type=int, default=None,
                       help='steps per round (median taken); default 2 on CPU, 10 on a GPU')
  parser.add_argument('--configs_dir', default='configs',
                       help='the folder of the config files (the variants\' recipes)')
  parser.add_argument('--layers', action='store_true',
                       help='instead: per-layer eval forward of plain vs every eval_impl')
  args = parser.parse_args(argv)
  cpu = jax.default_backend() == 'cpu'
  batch = args.batch or (8 if cpu else 64)
  steps_ = args.steps or (2 if cpu else 10)
  specs = [v for v in (args.variants or (DEFAULT if cpu else GPU_DEFAULT)).split(',') if v]
  for spec in specs:
    parse_variant(spec)  # a typo fails now, not after the first compiles
  specs = without_absent_torch(specs)
  print(f'# adafilter_jax.apps.bench.steps {datetime.date.today()} backend={jax.default_backend()} '
        f'devices={jax.devices()} cores={_cores()} python={platform.python_version()} '
        f'jax={jax.__version__}', flush=True)
  if args.layers:
    print(layer_table(batch, max(args.rounds, 5)), flush=True)
    return
  for res in [int(r) for r in args.res.split(',')]:
    for dtype in args.dtype.split(','):
      for i, parallel in enumerate(args.parallel.split(',')):
        # torch has no parallel strategy: it runs beside the first one only.
        run_specs = [v for v in specs if i == 0 or not v.startswith('torch')]
        results = run(run_specs, batch, res, dtype, parallel, args.rounds, steps_,
                      log=lambda s: print(s, flush=True), configs_dir=args.configs_dir)
        print(table(results, batch, res, dtype, parallel), flush=True)


if __name__ == '__main__':
  main()
