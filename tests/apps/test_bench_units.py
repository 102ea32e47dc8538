"""The per-unit bench (apps/bench/units.py): each lean variant's train step computes its
reference's, and XLA's compiled step keeps the lean plan (models/lean.py's barriers)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax.apps.bench import steps as bench_steps
from adafilter_jax.apps.bench import units
from adafilter_jax.train import parallel as parallel_lib

TINY = (8, 6, 4, 3, 2)   # (map, Cin, Cout, kernel, stride)
SAME = {'lean_plain': 'ref_plain', 'lean_gated': 'ref_gated', 'lean_gated_rs': 'ref_gated',
        'lean_eq6': 'ref_eq6'}


def step(variant, shape, depth, batch=4):
  args = units.inputs(shape, batch, jnp.float32, depth)
  chain = units.chain_fn(variant, shape, depth, jnp.float32)
  return jax.jit(functools.partial(units.train_step, chain)), args


def test_each_lean_variant_trains_as_its_reference():
  for lean_variant, reference in SAME.items():
    got, want = (fn(*args) for fn, args in (step(v, TINY, 2) for v in (lean_variant, reference)))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1, np.abs(b).max()))


def test_xla_keeps_less_for_a_chain_of_lean_units():
  """With barriers kept (as XLA:GPU keeps them), four chained lean units peak well below
  the reference: XLA neither merges their backward work into the forward nor runs it
  early (without the cotangents in the barrier, lean peaked as high as the reference)."""
  peak = {}
  for v in ('ref_plain', 'lean_plain', 'ref_gated', 'lean_gated', 'lean_gated_rs'):
    fn, args = step(v, (16, 16, 16, 3, 1), 4)
    peak[v] = bench_steps.peak_bytes(fn.lower(*args).compile(parallel_lib.KEEP_BARRIERS))
  assert peak['lean_plain'] < 0.8 * peak['ref_plain']
  assert peak['lean_gated'] < 0.8 * peak['ref_gated']
  assert peak['lean_gated_rs'] < 0.9 * peak['lean_gated']


def test_table_ratios_are_taken_within_rounds():
  row = lambda kept, peak, ms: dict(kept=kept, peak_barriers=peak, peak_default=2 * peak,
                                    ms_barriers=sorted(ms)[1], ms_default=sorted(ms)[1],
                                    rounds_barriers=ms, rounds_default=ms)
  # The machine slowed down 2x in round 2: the within-round ratio stays 1.5x.
  results = {'ref_plain': row(2**20, 2**21, [1.0, 2.0, 1.0]),
             'lean_gated': row(2**19, 3 * 2**20, [1.5, 3.0, 1.5])}
  lines = units.table('1x1 256->64', results, 16, 'float32').splitlines()
  assert lines[-1] == ('| lean_gated | 0.5 | 0.50 | 3.0 | 1.50 | 6.0 | 1.50 | 1.5 | 1.50 '
                       '| 1.5 | 1.50 |')
