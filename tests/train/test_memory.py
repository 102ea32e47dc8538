"""Memory settings change memory, not numbers: gradient accumulation
(config.grad_accum_steps) against one large batch and against micro-batches stepped by
hand, and rematerialised blocks (config.model.remat) against the plain model; on a CPU
their train step is compiled to keep the barriers they save memory through."""
import functools

import flax.linen as nn
import jax
from jax._src import ad_checkpoint
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adafilter_jax import methods
from adafilter_jax.apps.bench import memory as memory_bench
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import stages as stages_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from tests.methods import tiny as tiny_models
from tests import tiny_config


class MLP(nn.Module):
  """A model without batch statistics, returning (logits, gates) as the ResNets do."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.relu(nn.Dense(16, name='hidden')(x.reshape(x.shape[0], -1)))
    return nn.Dense(5, name='fc')(h), {}


def _batch(n, size=16, seed=0):
  rng = np.random.RandomState(seed)
  return {'image': rng.randint(0, 256, (n, size, size, 3)).astype(np.uint8),
          'label': rng.randint(0, 5, n).astype(np.int32)}


def _close(a, b, atol=1e-6):
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=atol), a, b)


def test_accumulated_update_equals_the_large_batch_update():
  """Without batch statistics, 4 micro-batches of 2 give the update of one batch of 8:
  two SGD-momentum steps (per-group rates, weight decay), params and metrics."""
  method, model = methods.get('finetune'), MLP()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
  results = {}
  for accum in (1, 4):
    config = tiny_config.config(grad_accum_steps=accum)
    state = state_lib.create_state(method, model, {**variables, 'batch_stats': {}}, config,
                                   steps_per_epoch=10)
    step = jax.jit(steps.make_train_step(method, config, None))
    for i in range(2):
      state, m = step(state, _batch(8, seed=i), jax.random.key(0), None)
    results[accum] = (state, m)
  (large, m_large), (accumulated, m_acc) = results[1], results[4]
  assert int(accumulated.step) == 2  # the step counts optimizer updates
  _close(accumulated.params, large.params)
  _close(m_acc, m_large)
  moved = jax.tree.map(lambda a, b: np.abs(a - b).max(), large.params, variables['params'])
  assert min(jax.tree.leaves(moved)) > 1e-4


def test_accumulation_normalises_each_micro_batch_with_its_own_statistics():
  """With BN: the mean of the gradients of the micro-batches x[0::2] and x[1::2], each
  through the model in train mode (its own BN statistics), the running statistics
  updated by one then the other; computed here without the train step."""
  config = tiny_models.config('finetune', grad_accum_steps=2)
  method = methods.get('finetune')
  model = method.build_model(config, 5, None)
  batch = _batch(8)
  variables = tiny_models.variables(model, jnp.zeros((1, 16, 16, 3)), train=False)
  state = state_lib.create_state(method, model, variables, config, steps_per_epoch=10)
  new, _ = jax.jit(steps.make_train_step(method, config, None))(
      state, batch, jax.random.key(0), None)

  mean, std = np.asarray(config.data.mean) * 255, np.asarray(config.data.std) * 255
  images = ((batch['image'] - mean) / std).astype(np.float32)

  def loss(params, batch_stats, x, y):
    (logits, _), new_vars = model.apply({'params': params, 'batch_stats': batch_stats}, x,
                                        train=True, mutable=['batch_stats'])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return ce, new_vars['batch_stats']

  grad = jax.grad(loss, has_aux=True)
  stats, grads = variables['batch_stats'], []
  for i in range(2):  # micro-batch i: examples i, i + 2, ...
    g, stats = grad(variables['params'], stats, images[i::2], batch['label'][i::2])
    grads.append(g)
  expected = state.apply_gradients(grads=jax.tree.map(lambda a, b: (a + b) / 2, *grads),
                                   batch_stats=stats)
  _close(new.params, expected.params, atol=1e-5)
  _close(new.batch_stats, expected.batch_stats, atol=1e-5)


def _remat_pair(recipe, arch, overrides):
  """(loss function of (model, params), the plain model, its remat twin, variables)."""
  config = tiny_models.config(recipe, arch, **overrides)
  method = methods.get(config.method)
  plain = method.build_model(config, 5, None)
  with config.unlocked():
    config.model.remat = True
  remat = method.build_model(config, 5, None)
  x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
  labels = jnp.array([0, 1, 2, 3])
  variables = tiny_models.variables(plain, x, train=False)

  def loss(model, params):
    (logits, gates), new_vars = model.apply(
        {'params': params, 'batch_stats': variables['batch_stats']}, x, train=True,
        rngs={'gate': jax.random.key(1)}, mutable=['batch_stats'])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return ce, (new_vars['batch_stats'], gates)

  # Each of ResNet-18's 8 blocks is one rematerialised call.
  jaxpr = jax.make_jaxpr(functools.partial(loss, remat))(variables['params'])
  assert sum(e.primitive is ad_checkpoint.remat_p for e in jaxpr.eqns) == 8
  return loss, plain, remat, variables


@pytest.mark.parametrize('recipe, arch, overrides', [
    ('finetune', 'resnet18', {}),
    # The LSTM gate, shared by the blocks; its state passes through the ungated ones.
    ('adafilter', 'resnet18', {'adafilter.gated_layers': 'layer3,layer4'}),
    # The policy's decisions reach each recomputed block from outside its checkpoint.
    ('spottune', 'resnet18', {}),
])
def test_remat_gives_the_plain_models_loss_gradients_and_statistics(recipe, arch, overrides):
  loss, plain, remat, variables = _remat_pair(recipe, arch, overrides)
  # Op by op, not jitted: compiling each whole gated model costs more than running it.
  results = [jax.value_and_grad(functools.partial(loss, m), has_aux=True)(variables['params'])
             for m in (plain, remat)]
  (loss_plain, aux_plain), grads_plain = results[0]
  (loss_remat, aux_remat), grads_remat = results[1]
  np.testing.assert_allclose(loss_remat, loss_plain, rtol=1e-6)
  _close(aux_remat, aux_plain, atol=1e-5)  # BN statistics and the gates' decisions
  _close(grads_remat, grads_plain, atol=1e-5)
  assert max(jax.tree.leaves(jax.tree.map(lambda g: np.abs(g).max(), grads_plain))) > 1e-3


@pytest.mark.parametrize('recipe, arch, overrides', [
    # The CNN gate sees the image in its first gated layer, here inside a block.
    ('adafilter_cnn_gate', 'resnet18', {'adafilter.gated_layers': 'blocks',
                                        'adafilter.gate_width': 4}),
])
def test_remat_runs_every_blocks_form(recipe, arch, overrides):
  """The forward (loss, BN statistics, decisions) equals the plain model's, and the
  backward traces; gradients are compared above, for the forms that differ in kind."""
  loss, plain, remat, variables = _remat_pair(recipe, arch, overrides)
  (loss_plain, aux_plain), (loss_remat, aux_remat) = [
      loss(m, variables['params']) for m in (plain, remat)]
  np.testing.assert_allclose(loss_remat, loss_plain, rtol=1e-6)
  _close(aux_remat, aux_plain, atol=1e-5)
  grads = jax.eval_shape(jax.grad(functools.partial(loss, remat), has_aux=True),
                         variables['params'])
  assert jax.tree.structure(grads[0]) == jax.tree.structure(variables['params'])


@pytest.mark.parametrize('overrides,keeps', [
    ({}, False), ({'model.remat': True}, True), ({'model.lean_units': True}, True)])
def test_on_a_cpu_the_train_step_keeps_barriers_where_the_model_relies_on_them(
    monkeypatch, overrides, keeps):
  """Remat and the lean units save memory through `optimization_barrier`s, which XLA:CPU
  strips before its CSE unless told not to: the loop's train step (train/stages.py) is
  compiled with them kept exactly for those models, and a step compiled so, under either
  strategy, keeps one."""
  config = tiny_config.config('adafilter', **overrides)
  method = methods.get('adafilter')
  asked = []
  par = parallel_lib.Parallel('jit')
  monkeypatch.setattr(par, 'train_step', lambda fn, options=None: asked.append(options))
  stages_lib.Stages(method, config, par, method.schedule(config), 5, {}).enter(None, 0)
  assert asked == [parallel_lib.KEEP_BARRIERS if keeps else None]
  monkeypatch.undo()

  def fn(state, batch, key, anchor):
    del key, anchor
    return jax.lax.optimization_barrier(state * 2.0) + batch, {}
  args = (jnp.ones(4), jnp.ones(4), jax.random.key(0), None)
  compiled = parallel_lib.Parallel('jit').train_step(fn, asked[0]).lower(*args).compile()
  assert ('opt-barrier' in compiled.as_text()) == keeps
  step = parallel_lib.Parallel('pmap').train_step(fn, asked[0])
  state, _ = step(jnp.ones((1, 4)), jnp.ones((1, 4)), jax.random.key(0), None)
  np.testing.assert_array_equal(state, 3.0)
  if keeps:
    (compiled,) = step.compiled.values()
    assert 'opt-barrier' in compiled.as_text()


def _step_temporaries(config, res, batch):
  """XLA's temporaries (bytes) of the loop's train step for `config`, compiled for an
  abstract state and batch as main.py compiles a lean step on a CPU (barriers kept)."""
  compiled = memory_bench.compiled_config_step(config, batch, res)
  return compiled.memory_analysis().temp_size_in_bytes


def test_recomputing_s_lowers_the_train_steps_memory():
  """adafilter.recompute_s drops S(x) from what each lean gated unit keeps; XLA kept it
  anyway while a block's ReLU took its gradient's mask from its input, recomputed in the
  backward from both branches' conv outputs (0.987x of the step's temporaries without it
  on this ResNet-14 on the AMD EPYC; 0.88x with the mask read from the ReLU's output,
  layers.relu; ResNet-50 at 224 px, batch 16: 0.71x, BENCHMARKS.md)."""
  config = tiny_config.config('adafilter', arch='resnet14', width=8, gated_layers='all',
                              **{'model.lean_units': True, 'adafilter.recompute_s': 'none'})
  kept = _step_temporaries(config, 64, 8)
  config.adafilter.recompute_s = 'all'
  assert _step_temporaries(config, 64, 8) <= 0.93 * kept


def test_the_default_recomputes_s_where_it_is_larger_than_x():
  """adafilter.recompute_s='expanding' (the default) recomputes S(x) where it is larger
  than x: in a bottleneck ResNet each block's last 1x1 and its widening projection, which
  hold most of S's bytes, so that the step keeps less than with S kept everywhere
  (ResNet-50 at 224 px, batch 16: 0.84x of 'none'; this ResNet-14 on the AMD EPYC: 0.90x,
  'all' 0.88x)."""
  config = tiny_config.config('adafilter', arch='resnet14', width=8, gated_layers='all',
                              **{'model.lean_units': True})
  assert config.adafilter.recompute_s == 'expanding'
  expanding = _step_temporaries(config, 64, 8)
  config.adafilter.recompute_s = 'none'
  assert expanding <= 0.95 * _step_temporaries(config, 64, 8)
