"""The train step of ONE conv+BN unit, each reference form beside its lean form
(models/lean.py), side by side in one process: what JAX keeps for the backward, XLA's
compiled peak memory, and the step's time.

  PYTHONPATH=. python -m adafilter_jax.apps.bench.units     # docs/speed.md's per-unit table
  PYTHONPATH=. python -m adafilter_jax.apps.bench.units --batch 8 --rounds 3 --dtype bfloat16
  PYTHONPATH=. python -m adafilter_jax.apps.bench.units --depth 5 --rounds 0   # memory, chained

The step is `jax.value_and_grad` of <y, dy> (dy: a fixed argument, the gradient the rest
of a network would send back) with respect to x and every trained param, returning the
gradients and the updated running statistics, under `jax.jit`. The references are the
project's: `convs.conv` + `layers.batch_norm` (flax's BatchNorm), and for the gated unit
both branches, S behind `stop_gradient`, mixed by `ste.mix`; the gate's decisions
are a fixed random argument (the gate itself is not part of the unit).

Memory is compiled twice: as `main.py` compiles (XLA's default passes), and with
`cse_barrier_expander` off (train/parallel.py's KEEP_BARRIERS), which keeps the
`optimization_barrier`s the lean backward reads its residuals through, as XLA:GPU does.
Peak = arguments + outputs + temporaries - aliases (bench/steps.py's `peak_bytes`).
One unit's peak is mostly its backward's working set (x, dx, the cotangents), which a
network pays once; `--depth` chains units, so that what XLA keeps per unit between the
passes shows as the growth of the peak with depth.
Times: the median of `--steps` calls per round, rounds interleaved, the median of rounds,
each variant with barriers kept (the GPU-like compile) and with XLA's default passes.
"""
import argparse
import datetime
import functools
import platform
import statistics

import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax.apps.bench import steps as bench_steps
from adafilter_jax.models import convs, layers, lean, ste
from adafilter_jax.train import parallel as parallel_lib

# name -> (input map, Cin, Cout, kernel, stride): ResNet-50 layer1's 1x1 reduce and 3x3.
SHAPES = {'1x1 256->64': (56, 256, 64, 1, 1), '3x3 64->64': (56, 64, 64, 3, 1)}
VARIANTS = ('ref_plain', 'lean_plain', 'ref_gated', 'lean_gated', 'lean_gated_rs',
            'ref_eq6', 'lean_eq6')
BASE = 'ref_plain'
COMPILES = {'default': None, 'barriers': parallel_lib.KEEP_BARRIERS}


def unit_fn(variant, k, stride, dtype):
  """variant -> unit(params, stats, x, g) -> (y, updated running stats); `stats` is a
  list of (mean, var) pairs, one per BN."""
  pad = k // 2
  conv = lambda x, w: convs.conv(x.astype(dtype), w.astype(dtype), stride, pad)
  bn = layers.batch_norm(True, dtype=dtype)

  def flax_bn(z, scale, bias, stat):
    y, new = bn.apply({'params': {'scale': scale, 'bias': bias},
                       'batch_stats': {'mean': stat[0], 'var': stat[1]}}, z,
                      mutable=['batch_stats'])
    return y, (new['batch_stats']['mean'], new['batch_stats']['var'])

  def run(stats, batch_stats):
    return [(lean.running(m, bm), lean.running(v, bv))
            for (m, v), (bm, bv) in zip(stats, batch_stats)]

  kw = dict(strides=stride, padding=pad, dtype=dtype)

  def unit(p, stats, x, g):
    if variant == 'ref_plain':
      y, st = flax_bn(conv(x, p['w_f']), p['scale_f'], p['bias_f'], stats[0])
      return y, [st]
    if variant == 'lean_plain':
      y, *st = lean.conv_bn(x, p['w_f'], p['scale_f'], p['bias_f'], **kw)
      return y, run(stats, [st])
    f, s = conv(x, p['w_f']), conv(x, jax.lax.stop_gradient(p['w_s']))
    gg = g.astype(f.dtype)
    if variant == 'ref_gated':
      a, st_f = flax_bn(f, p['scale_f'], p['bias_f'], stats[0])
      b, st_s = flax_bn(s, p['scale_s'], p['bias_s'], stats[1])
      return ste.mix(gg, a, b), [st_f, st_s]
    if variant == 'ref_eq6':
      y, st = flax_bn(ste.mix(gg, f, s), p['scale_f'], p['bias_f'], stats[0])
      return y, [st]
    if variant == 'lean_eq6':
      y, *st = lean.gated_conv_bn_eq6(x, p['w_f'], p['w_s'], (p['scale_f'], p['bias_f']),
                                      gg, **kw)
      return y, run(stats, [st])
    recompute = 'all' if variant == 'lean_gated_rs' else 'none'
    y, st_f, st_s = lean.gated_conv_bn(x, p['w_f'], p['w_s'], (p['scale_f'], p['bias_f']),
                                       (p['scale_s'], p['bias_s']), gg, recompute_s=recompute,
                                       **kw)
    return y, run(stats, [st_f, st_s])
  return unit


def chain_fn(variant, shape, depth, dtype):
  """`depth` units in a chain, as in a network (no ReLU between: it costs every variant
  alike): the first maps Cin -> Cout, the others Cout -> Cout with the same kernel.
  -> chain(params list, stats list, x, g) -> (y, updated stats list)."""
  units = [unit_fn(variant, shape[3], shape[4] if i == 0 else 1, dtype) for i in range(depth)]

  def chain(params, stats, x, g):
    new = []
    for unit, p, st in zip(units, params, stats):
      x, st = unit(p, st, x, g)
      new.append(st)
    return x, new
  return chain


def train_step(chain, params, stats, x, g, dy):
  """Gradients of <y, dy> for x and the trained params (not S), and the new statistics."""
  frozen = [{'w_s': p['w_s']} for p in params]

  def loss(trained, x):
    y, new_stats = chain([{**t, **f} for t, f in zip(trained, frozen)], stats, x, g)
    return jnp.vdot(y.astype(jnp.float32), dy), new_stats
  trained = [{n: v for n, v in p.items() if n != 'w_s'} for p in params]
  (value, new_stats), grads = jax.value_and_grad(loss, (0, 1), has_aux=True)(trained, x)
  return value, grads, new_stats


def inputs(shape, batch, dtype, depth=1):
  h, cin, cout, k, stride = shape
  r = np.random.RandomState(0)
  arr = lambda *s: jnp.asarray(r.randn(*s), jnp.float32)
  ho = convs.out_size(h, k, stride, k // 2)
  params, stats = [], []
  for i in range(depth):
    c = cin if i == 0 else cout
    w = arr(k, k, c, cout) * (2 / (k * k * c)) ** 0.5
    params.append(dict(w_f=w, w_s=w, scale_f=jnp.ones(cout), bias_f=jnp.zeros(cout),
                       scale_s=jnp.ones(cout), bias_s=jnp.zeros(cout)))
    stats.append([(jnp.zeros(cout), jnp.ones(cout))] * 2)
  x = arr(batch, h, h, cin).astype(dtype)
  g = jnp.asarray(r.rand(batch, cout) > 0.5, jnp.float32)
  return params, stats, x, g, arr(batch, ho, ho, cout)


def kept_bytes(chain, params, stats, x, g):
  """Bytes JAX keeps for the backward (the `jax.vjp` closure's arrays)."""
  fn = lambda p, x: chain(p, stats, x, g)[0]
  return sum(a.nbytes for a in jax.tree.leaves(jax.vjp(fn, params, x)[1]))


def measure(shape, batch, dtype, rounds, steps_, variants=VARIANTS, depth=1,
            log=print) -> dict:
  """{variant: {'kept', 'peak_default', 'peak_barriers' (bytes), 'ms_default',
  'ms_barriers' (nan when rounds == 0)}} for a chain of `depth` units of `shape`."""
  args = inputs(shape, batch, dtype, depth)
  out, steps = {}, {}
  for v in variants:
    chain = chain_fn(v, shape, depth, dtype)
    out[v] = {'kept': kept_bytes(chain, *args[:4])}
    lowered = jax.jit(functools.partial(train_step, chain)).lower(*args)
    for c, options in COMPILES.items():
      compiled = lowered.compile(options)
      out[v][f'peak_{c}'] = bench_steps.peak_bytes(compiled)
      if rounds:
        steps[v, c] = functools.partial(compiled, *args)
        jax.block_until_ready(steps[v, c]())   # warm-up
    log(f'  {v}: kept {out[v]["kept"] / 2**20:.1f} MiB, peak '
        f'{out[v]["peak_default"] / 2**20:.1f} / {out[v]["peak_barriers"] / 2**20:.1f} MiB')
  times = {key: [] for key in steps}
  for r in range(rounds):
    for key, step in steps.items():  # interleaved: every variant sees the same load
      times[key].append(bench_steps.median_time(lambda: jax.block_until_ready(step()), steps_))
    log(f'  round {r + 1}/{rounds}: ' + ' '.join(
        f'{v}/{c}={1e3 * t[-1]:.0f}ms' for (v, c), t in times.items()))
  for v in variants:
    for c in COMPILES:
      t = times.get((v, c))
      out[v][f'ms_{c}'] = 1e3 * statistics.median(t) if t else float('nan')
      out[v][f'rounds_{c}'] = t or []
  return out


def table(name, results, batch, dtype, depth=1) -> str:
  """Figures and ratios to BASE; time ratios are the median over rounds of the
  within-round ratio (robust to load swings between rounds)."""
  base = results[BASE]
  mib = lambda b: f'{b / 2**20:.1f}'
  what = "one unit's" if depth == 1 else f'a chain of {depth} units\''
  lines = [f'### {name}, batch {batch}, {dtype}: {what} train step', '',
           '| variant | kept MiB | x ref | peak MiB (barriers kept) | x ref | '
           'peak MiB (default passes) | x ref | ms (barriers kept) | x ref | '
           'ms (default passes) | x ref |', '|---|' + '---|' * 10]
  for v, r in results.items():
    cells = [mib(r['kept']), f"{r['kept'] / base['kept']:.2f}"]
    for key in ('peak_barriers', 'peak_default'):
      cells += [mib(r[key]), f'{r[key] / base[key]:.2f}']
    for c in ('barriers', 'default'):
      pairs = list(zip(r[f'rounds_{c}'], base[f'rounds_{c}']))
      ratio = f'{statistics.median(a / b for a, b in pairs):.2f}' if pairs else '–'
      cells += ['–' if not pairs else f"{r[f'ms_{c}']:.1f}", ratio]
    lines.append(f'| {v} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--shapes', default=','.join(SHAPES),
                      help=f'comma list of {list(SHAPES)}')
  parser.add_argument('--variants', default=','.join(VARIANTS),
                      help=f'comma list of {list(VARIANTS)} (the first is the ratios\' base)')
  parser.add_argument('--batch', type=int, default=16)
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'))
  parser.add_argument('--depth', type=int, default=1,
                      help='units in a chain (the first is the shape, the rest Cout -> Cout)')
  parser.add_argument('--rounds', type=int, default=5, help='0: memory only')
  parser.add_argument('--steps', type=int, default=3, help='steps per round (median)')
  args = parser.parse_args(argv)
  shapes = [s for s in args.shapes.split(',') if s]
  variants = [v for v in args.variants.split(',') if v]
  for given, known in ((shapes, SHAPES), (variants, VARIANTS)):
    unknown = sorted(set(given) - set(known))
    if unknown:
      parser.error(f'unknown {unknown}; known: {list(known)}')
  if BASE not in variants:
    parser.error(f'--variants must include {BASE!r}, the base of the ratios')
  print(f'# adafilter_jax.apps.bench.units {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC '
        f'backend={jax.default_backend()} cpu={platform.processor() or platform.machine()} '
        f'jax={jax.__version__}', flush=True)
  for name in shapes:
    results = measure(SHAPES[name], args.batch, jnp.dtype(args.dtype), args.rounds,
                      args.steps, variants, args.depth, log=lambda s: print(s, flush=True))
    print(table(name, results, args.batch, args.dtype, args.depth), flush=True)


if __name__ == '__main__':
  main()
