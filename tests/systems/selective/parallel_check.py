"""Run in a subprocess with 2 host devices (tests/systems/selective/test_parallel.py): three
joint micro-steps (iter_size 2: one update, then half of the next) and the prediction
over a split, on one device (plain jit) and on train/parallel.py's pmap over 2 devices
and jit over a 2-device mesh, from the same weights and batches. Prints the largest
differences."""
import json
import sys

import jax
import numpy as np

from adafilter_jax.systems.selective import joint, rounds, run
from adafilter_jax.train import parallel
from tests.systems.selective import tiny

STEPS, B = 3, 4  # B target images + B source partners a batch: 2 + 2 per device


def _batches():
  rng = np.random.default_rng(0)
  image = lambda: rng.integers(0, 256, (B, tiny.SIZE, tiny.SIZE, 3)).astype(np.uint8)
  return [{'image': image(), 'label': rng.integers(0, 3, B).astype(np.int32),
           'source_image': image(), 'source_label': rng.integers(0, 4, B).astype(np.int32)}
          for _ in range(STEPS)]


def _single(config, variables, batches, split):
  state = joint.create_round_state(tiny.model(), variables, config)
  step = jax.jit(joint.make_joint_train_step(config, None))
  for b in batches:
    state, metrics = step(state, b, jax.random.key(0), None)
  out = jax.jit(joint.make_target_predict_step(config))(
      state, {'image': split.images, 'mask': np.ones(len(split), bool)}, jax.random.key(0))
  state, metrics, probs = jax.device_get((state, metrics, out['probs']))
  return state.params, state.batch_stats, jax.tree.map(float, metrics), probs


def _parallel(name, config, variables, batches, split):
  par = parallel.Parallel(name)
  model = tiny.model(bn_axis_name=par.bn_axis_name)
  steps = joint.make_steps(config, par, variables['params'])
  state = par.put_state(joint.create_round_state(model, variables, config, steps.tx))
  for b in batches:
    state, metrics = steps.train(state, par.put_batch(b), jax.random.key(0), None)
  probs = rounds.predict(config, par, steps.predict, state, split)  # 7 images, batches of 4
  host = par.get_state(state)
  return host.params, host.batch_stats, par.metrics(metrics), probs


def main():
  assert jax.device_count() == 2, jax.devices()
  config = tiny.config(iter_size=2, target_batch=B, decay_iterations=())
  config.eval_batch_size = 4
  variables = joint.init_joint_variables(tiny.model(), tiny.SIZE, seed=0)
  batches, split = _batches(), tiny.random_split(7, 3, 5)
  ref = _single(config, variables, batches, split)
  report = {'moved': max(jax.tree.leaves(jax.tree.map(
      lambda a, b: float(np.max(np.abs(a - b))), ref[0], jax.device_get(variables['params']))))}
  for name in ('pmap', 'jit'):
    got = _parallel(name, config, variables, batches, split)
    diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a, np.float64) -
                                                          np.asarray(b, np.float64)))), got, ref)
    report[name] = max(jax.tree.leaves(diffs))
  report['probs_shape'] = list(np.shape(ref[3]))
  try:  # an odd batch cannot be split over the 2 devices: refused before anything runs
    run.check(tiny.config(target_batch=3))
  except ValueError as e:
    report['odd_batch_error'] = str(e)
  print(json.dumps(report))


if __name__ == '__main__':
  sys.exit(main())
