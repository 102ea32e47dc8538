"""LP-FT: the probe stage moves only the head (BN statistics kept), the fine-tuning stage
is fine-tuning from that head with a fresh optimizer (resuming across the stage boundary:
tests/train/test_stages.py)."""
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from tests.methods import tiny


def _batches(n, seed=0):
  rng = np.random.RandomState(seed)
  return [{'image': rng.randint(0, 256, (8, 16, 16, 3)).astype(np.uint8),
           'label': rng.randint(0, 5, 8).astype(np.int32)} for _ in range(n)]


def _moved(a, b):
  return jax.tree.map(lambda x, y: not np.array_equal(x, y), a, b)


def test_probe_moves_only_the_head_then_fine_tuning_starts_from_it():
  config = tiny.config('lp_ft')
  method = methods.get('lp_ft')
  (_, probe), (first, fine) = method.schedule(config)
  assert first == 10 and probe.trained == ('head',) and not probe.bn_train
  model = method.build_model(config, 5, None)
  variables = tiny.variables(model, jnp.zeros((1, 16, 16, 3)), train=False)
  state = state_lib.create_state(method, model, variables, config, steps_per_epoch=3)
  probe_step = jax.jit(steps.make_train_step(method, config, None, probe))
  for i, batch in enumerate(_batches(3)):
    state, _ = probe_step(state, batch, jax.random.key(i), None)
  moved = _moved(variables['params'], state.params)
  assert all(jax.tree.leaves(moved['fc'])), 'the probe trains the head'
  assert not any(jax.tree.leaves({k: v for k, v in moved.items() if k != 'fc'}))
  assert not any(jax.tree.leaves(_moved(variables['batch_stats'], state.batch_stats)))

  lp = jax.device_get(state)
  state = state_lib.enter_stage(lp, method, config, fine, 3, fresh=True)
  traces = [t for t in jax.tree.leaves(state.opt_state) if np.ndim(t) > 0]
  assert traces and not any(np.any(t) for t in traces), 'a fresh optimizer: no momentum'
  # The second stage is plain fine-tuning of the probed model: the same steps as
  # `finetune` started from the probe's params and statistics.
  finetune = methods.get('finetune')
  reference = state_lib.create_state(finetune, model, {'params': lp.params,
                                                        'batch_stats': lp.batch_stats},
                                     config, steps_per_epoch=3)
  step = jax.jit(steps.make_train_step(method, config, None, fine))
  ref_step = jax.jit(steps.make_train_step(finetune, config, None))
  for i, batch in enumerate(_batches(2, seed=1)):
    state, _ = step(state, batch, jax.random.key(i), None)
    reference, _ = ref_step(reference, batch, jax.random.key(i), None)
  jax.tree.map(np.testing.assert_array_equal, state.params, reference.params)
  jax.tree.map(np.testing.assert_array_equal, state.batch_stats, reference.batch_stats)
  assert all(jax.tree.leaves(_moved(lp.params, state.params))), 'everything trains now'
