"""Run in a subprocess with 2 host devices (XLA_FLAGS must precede the jax import): one
train step + eval of a tiny AdaFilter on the same global batch, on 1 device, under pmap
over 2 devices and under jit over a 2-device mesh. Prints the largest differences.
CHECK_OVERRIDES (JSON) overrides config fields (gradient accumulation, remat), CHECK_BATCH
the batch size (8)."""
import json
import os
import sys

import jax
import numpy as np

from adafilter_jax import methods
from adafilter_jax.train import parallel, steps
from adafilter_jax.train import state as state_lib
from tests import tiny_config


def main():
  assert jax.device_count() == 2, jax.devices()
  config = tiny_config.config('adafilter', **json.loads(os.environ.get('CHECK_OVERRIDES', '{}')))
  method = methods.get('adafilter')
  rng = np.random.default_rng(0)
  n = int(os.environ.get('CHECK_BATCH', '8'))
  batch = {'image': rng.integers(0, 256, (n, 16, 16, 3)).astype(np.uint8),  # as the pipeline
           'label': rng.integers(0, 5, n).astype(np.int32)}
  eval_batch = dict(batch, mask=np.array([True] * (n - 1) + [False]),
                    index=np.arange(n, dtype=np.int32))
  key = jax.random.key(0)
  variables = None
  results = {}
  for name in ('single', 'pmap', 'jit'):
    par = parallel.Parallel('jit' if name == 'single' else name)
    axis = par.bn_axis_name
    model = method.build_model(config, 5, axis)
    if variables is None:
      variables = state_lib.init_variables(model, config, 16, None)
    state = state_lib.create_state(method, model, variables, config, 10)
    train_step = steps.make_train_step(method, config, axis)
    eval_step = steps.make_eval_step(config, axis)
    if name == 'single':  # plain jit on one device: the reference
      new, metrics = jax.jit(train_step)(state, batch, key, None)
      out = jax.device_get(jax.jit(eval_step)(new, eval_batch, key))
      new, metrics = jax.device_get((new, metrics))
    else:
      train_fn, eval_fn = par.train_step(train_step), par.eval_step(eval_step)
      new, metrics = train_fn(par.put_state(state), par.put_batch(batch), key, None)
      out = par.get_outputs(eval_fn(new, par.put_batch(eval_batch), key))
      new, metrics = par.get_state(new), par.metrics(metrics)
    results[name] = (new.params, new.batch_stats, metrics, out)

  report = {}
  ref = results['single']
  for name in ('pmap', 'jit'):
    diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a, np.float64) -
                                                          np.asarray(b, np.float64)))),
                         results[name], ref)
    report[name] = max(jax.tree.leaves(diffs))
  moved = max(jax.tree.leaves(jax.tree.map(
      lambda a, b: float(np.max(np.abs(a - b))), ref[0], jax.device_get(variables['params']))))
  report['moved'] = moved
  print(json.dumps(report))


if __name__ == '__main__':
  sys.exit(main())
