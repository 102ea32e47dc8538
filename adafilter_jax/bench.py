"""Speed of one train step and one eval forward, every variant side by side in ONE process.

  PYTHONPATH=. python -m adafilter_jax.bench                      # the BENCHMARKS.md table
  PYTHONPATH=. python -m adafilter_jax.bench --res 112 --rounds 3 --variants ft,ada,ada_fast
  PYTHONPATH=. python -m adafilter_jax.bench --layers   # per layer: plain vs each eval_impl

The machine is shared and noisy, so variants are timed interleaved (round-robin), each
round's time is the median of `--steps` steps, and the reported time is the median over
rounds; ratios are taken between variants of the same run. The train step is the
project's real one (train/steps.py, SGD momentum with per-group rates from
train/optimizer.py, BN stats update, gate rng, softmax CE) jit-compiled with the state
donated. Peak memory is XLA's own account of the compiled step (arguments + outputs +
temporaries - aliased), not a process RSS. The torch peer is the torchvision-layout
ResNet-50 of tests/models/torch_resnet.py, channels_last, SGD momentum, same shapes.
"""
import argparse
import datetime
import functools
import platform
import statistics
import time
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods, models
from adafilter_jax.models import gated, gates, layers
from adafilter_jax.train import loop, steps

NUM_CLASSES = 100

# name -> (method, model kwargs). 'ft' = plain fine-tuning (all params train).
VARIANTS = {
    'ft': ('finetune', {}),
    'ft_mixed': ('finetune', dict(conv_impl='mixed')),
    'ft_matmul': ('finetune', dict(conv_impl='matmul')),
    'ada': ('adafilter', {}),
    'ada_fused': ('adafilter', dict(eval_impl='fused')),
    'ada_concat': ('adafilter', dict(train_impl='concat')),
    'ada_fast': ('adafilter', dict(train_impl='concat', eval_impl='fused', conv_impl='mixed')),
    'ada_fused_all': ('adafilter', dict(eval_impl='fused_all', conv_impl='mixed')),
    'spottune': ('spottune', {}),
}
DEFAULT = 'ft,ft_mixed,ada,ada_fast,spottune,torch'


def _config(method):
  from configs.base import get_config  # the project's recipe: rates, momentum, decay
  c = get_config()
  c.method = method
  c.pretrained = ''
  return c


def _model(method, kw, config):
  if method == 'finetune':
    return models.resnet('resnet50', NUM_CLASSES, **kw)
  if method == 'adafilter':
    return models.adafilter_resnet('resnet50', NUM_CLASSES, **kw)
  return methods.get(method).build_model(config, NUM_CLASSES, None)


def _peak_bytes(compiled):
  m = compiled.memory_analysis()
  if m is None:
    return float('nan')
  return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
          - m.alias_size_in_bytes)


class JaxCase:

  def __init__(self, name, batch, res):
    method_name, kw = VARIANTS[name]
    config = _config(method_name)
    method = methods.get(method_name)
    model = _model(method_name, kw, config)
    variables = loop.init_variables(model, config, res, None)
    self.state = loop.create_state(method, model, variables, config, steps_per_epoch=100)
    rng = np.random.RandomState(0)
    # uint8 images, as the input pipeline delivers them (the steps normalise).
    self.batch = {'image': jnp.asarray(rng.randint(0, 256, (batch, res, res, 3)), jnp.uint8),
                  'label': jnp.asarray(rng.randint(0, NUM_CLASSES, batch), jnp.int32)}
    self.key = jax.random.key(0)
    t = time.perf_counter()
    self.train = jax.jit(steps.make_train_step(method, config, None), donate_argnums=0).lower(
        self.state, self.batch, self.key, None).compile()
    self.compile_train = time.perf_counter() - t
    self.mem_train = _peak_bytes(self.train)
    t = time.perf_counter()
    self.eval = jax.jit(lambda s, x, k: s.apply_fn(
        {'params': s.params, 'batch_stats': s.batch_stats},
        steps.normalize(x, config.data), train=False,
        rngs={'gate': k})[0]).lower(self.state, self.batch['image'], self.key).compile()
    self.compile_eval = time.perf_counter() - t
    self.mem_eval = _peak_bytes(self.eval)

  def train_step(self):
    self.state, metrics = self.train(self.state, self.batch, self.key, None)
    jax.block_until_ready(metrics)

  def eval_step(self):
    jax.block_until_ready(self.eval(self.state, self.batch['image'], self.key))


class TorchCase:

  def __init__(self, batch, res):
    import torch
    from tests.models.torch_resnet import torch_resnet
    torch.set_num_threads(_cores())
    self.torch = torch
    self.net = torch_resnet('resnet50', NUM_CLASSES).to(memory_format=torch.channels_last)
    self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    self.x = torch.randn(batch, 3, res, res).to(memory_format=torch.channels_last)
    self.y = torch.randint(0, NUM_CLASSES, (batch,))
    self.compile_train = self.compile_eval = 0.0
    self.mem_train = self.mem_eval = float('nan')

  def train_step(self):
    self.net.train()
    self.opt.zero_grad(set_to_none=True)
    logits, _ = self.net(self.x)
    self.torch.nn.functional.cross_entropy(logits, self.y).backward()
    self.opt.step()

  def eval_step(self):
    self.net.eval()
    with self.torch.no_grad():
      self.net(self.x)


def _cores():
  import os
  return len(os.sched_getaffinity(0))


def _time(fn, steps_):
  ts = []
  for _ in range(steps_):
    t = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - t)
  return statistics.median(ts)


def run(names, batch, res, rounds, steps_, log=print):
  cases = {}
  for n in names:
    t = time.perf_counter()
    cases[n] = TorchCase(batch, res) if n == 'torch' else JaxCase(n, batch, res)
    log(f'  built {n} in {time.perf_counter() - t:.0f}s')
  for c in cases.values():  # warm-up (first runs allocate)
    c.train_step(), c.eval_step()
  times = {n: {'train': [], 'eval': []} for n in cases}
  for r in range(rounds):
    for n, c in cases.items():  # interleaved: all variants see the same machine load
      times[n]['train'].append(_time(c.train_step, steps_))
      times[n]['eval'].append(_time(c.eval_step, steps_))
    log(f'  round {r + 1}/{rounds}: ' + ' '.join(
        f"{n}={times[n]['train'][-1]:.2f}/{times[n]['eval'][-1]:.2f}s" for n in cases))
  return {n: dict(train=statistics.median(t['train']), eval=statistics.median(t['eval']),
                  rounds=t,
                  compile_train=cases[n].compile_train, compile_eval=cases[n].compile_eval,
                  mem_train=cases[n].mem_train, mem_eval=cases[n].mem_eval)
          for n, t in times.items()}


def table(results, batch, res):
  lines = [f'### batch {batch}, {res} px', '',
           '| variant | train img/s | eval img/s | train step s | eval s | compile train+eval s'
           ' | peak mem train MiB | peak mem eval MiB |', '|---|---|---|---|---|---|---|---|']
  for n, r in results.items():
    lines.append(f"| {n} | {batch / r['train']:.2f} | {batch / r['eval']:.2f} | "
                 f"{r['train']:.3f} | {r['eval']:.3f} | "
                 f"{r['compile_train'] + r['compile_eval']:.1f} | "
                 f"{r['mem_train'] / 2**20:.0f} | {r['mem_eval'] / 2**20:.0f} |")
  lines.append('')
  base = results.get('ft')
  if base is not None:
    lines.append('Ratios to `ft` (plain fine-tuning, lax.conv) in this run (time, lower is '
                 'better; memory = XLA peak):')
    lines.append('')
    for n, r in results.items():
      if n != 'ft':
        lines.append(f"- {n}: train {r['train'] / base['train']:.2f}x, eval "
                     f"{r['eval'] / base['eval']:.2f}x, train memory "
                     f"{r['mem_train'] / base['mem_train']:.2f}x")
  if base is not None:  # robust to load swings between rounds: ratio within each round
    lines += ['', 'Median over rounds of the within-round ratio to `ft` (train / eval):', '']
    for n, r in results.items():
      if n != 'ft':
        per = {k: statistics.median(a / b for a, b in zip(r['rounds'][k], base['rounds'][k]))
               for k in ('train', 'eval')}
        lines.append(f"- {n}: train {per['train']:.2f}x, eval {per['eval']:.2f}x")
    lines.append('')
  ref = min((results[n] for n in results if n.startswith('ft')), key=lambda r: r['train'],
            default=None)
  if ref is not None:
    for n in [n for n in results if n.startswith('ada') or n == 'spottune']:
      best = results[n]
      lines.append(f'- {n} vs fastest plain-ft variant: train {best["train"] / ref["train"]:.2f}x,'
                   f' eval {best["eval"] / min(results[m]["eval"] for m in results if m.startswith("ft")):.2f}x')
  if 'torch' in results and ref is not None:
    lines.append(f"- fastest JAX plain-ft train step / torch: "
                 f"{ref['train'] / results['torch']['train']:.2f}x; eval "
                 f"{min(results[m]['eval'] for m in results if m.startswith('ft')) / results['torch']['eval']:.2f}x")
  return '\n'.join(lines)


# ResNet-50's distinct conv shapes at 224 px: (input map, Cin, Cout, kernel, stride).
LAYERS = [(224, 3, 64, 7, 2), (56, 64, 64, 1, 1), (56, 64, 64, 3, 1), (56, 64, 256, 1, 1),
          (56, 256, 64, 1, 1), (56, 256, 512, 1, 2), (56, 128, 128, 3, 2),
          (28, 512, 128, 1, 1), (28, 128, 128, 3, 1), (28, 512, 1024, 1, 2),
          (14, 1024, 256, 1, 1), (14, 256, 256, 3, 1), (14, 256, 1024, 1, 1),
          (14, 1024, 2048, 1, 2), (7, 512, 512, 3, 1), (7, 512, 2048, 1, 1)]
LAYER_IMPLS = ('two_branch', 'fused', 'fused_all', 'fused_map', 'fused_group')


class _Unit(nn.Module):
  """One unit in eval mode: a plain ConvBN, or a GatedConvBN with a random gate."""
  eval_impl: Optional[str]  # None: the plain unit
  features: int
  kernel_size: int
  strides: int

  @nn.compact
  def __call__(self, x):
    kw = dict(features=self.features, kernel_size=self.kernel_size, strides=self.strides,
              padding=self.kernel_size // 2)
    if self.eval_impl is None:
      return layers.ConvBN(**kw, name='unit')(x, None, False)[0]
    gate = gates.RandomGate(name='gate')
    unit = gated.GatedConvBN(**kw, gate=gate, eval_impl=self.eval_impl, name='unit')
    return unit(x, gate.init_state(x, False), False)[0]


def layer_table(batch, rounds):
  """Per-layer eval forward ms of one unit: plain vs each AdaFilter eval_impl."""
  cols = ('plain',) + LAYER_IMPLS
  lines = [f'### eval forward of one unit, batch {batch}, ms (median of {rounds}, interleaved)',
           '', '| layer | ' + ' | '.join(cols) + " | 'fused' picks | fused / plain |",
           '|' + '---|' * (len(cols) + 3)]
  for h, cin, cout, k, stride in LAYERS:
    x = jax.random.normal(jax.random.key(0), (batch, h, h, cin))
    fns = {}
    for c in cols:
      unit = _Unit(None if c == 'plain' else c, cout, k, stride)
      v = unit.init({'params': jax.random.key(1), 'gate': jax.random.key(2)}, x)
      fns[c] = jax.jit(functools.partial(unit.apply, v, rngs={'gate': jax.random.key(3)}))
      jax.block_until_ready(fns[c](x))
    times = {c: [] for c in cols}
    for _ in range(rounds):
      for c in cols:
        times[c].append(_time(lambda: jax.block_until_ready(fns[c](x)), 1))
    ms = {c: 1e3 * statistics.median(t) for c, t in times.items()}
    probe = gated.GatedConvBN(features=cout, kernel_size=k, strides=stride, padding=k // 2,
                              eval_impl='fused')
    picks = probe._fuse(x) or 'two-branch'  # pylint: disable=protected-access
    lines.append(f'| {k}x{k} {cin}->{cout} s{stride} @{h} | '
                 + ' | '.join(f'{ms[c]:.1f}' for c in cols)
                 + f" | {picks} | {ms['fused'] / ms['plain']:.2f} |")
  return '\n'.join(lines)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--variants', default=DEFAULT, help=f'comma list of {list(VARIANTS)} + torch')
  p.add_argument('--res', default='224,112', help='comma list of resolutions')
  p.add_argument('--batch', type=int, default=None, help='default 8 on CPU, 64 on a GPU')
  p.add_argument('--rounds', type=int, default=3)
  p.add_argument('--steps', type=int, default=2, help='steps per round (median taken)')
  p.add_argument('--layers', action='store_true',
                 help='instead: per-layer eval forward of plain vs every eval_impl')
  a = p.parse_args(argv)
  backend = jax.default_backend()
  batch = a.batch or (8 if backend == 'cpu' else 64)
  names = [n for n in a.variants.split(',') if n]
  if backend != 'cpu' and 'torch' in names:
    names.remove('torch')  # the peer is the CPU build of torch
  print(f'# adafilter_jax.bench {datetime.date.today()} backend={backend} '
        f'devices={jax.devices()} cores={_cores()} python={platform.python_version()} '
        f'jax={jax.__version__}', flush=True)
  if a.layers:
    print(layer_table(batch, max(a.rounds, 5)), flush=True)
    return
  for res in [int(r) for r in a.res.split(',')]:
    results = run(names, batch, res, a.rounds, a.steps, log=lambda s: print(s, flush=True))
    print(table(results, batch, res), flush=True)


if __name__ == '__main__':
  main()
