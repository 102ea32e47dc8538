"""Tiny SpotTune-baseline configs and steps shared by the Decathlon tests."""
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from tests.methods import tiny


def config(method, arch='resnet26', **overrides):
  """Recipe `method`'s config where one has that name; else finetune's with `method` set
  and no settings block (the tests add the block they need)."""
  c = tiny.config(method if method in methods.recipe_names() else 'finetune', arch=arch, **overrides)
  c.method = method
  c.optim.lr = c.optim.gate_lr = 0.1
  return c


def train(config, steps_n=2, jit=False):
  """(variables before, params after, batch_stats after) of `steps_n` SGD steps; eager
  unless `jit` (a plain tiny ResNet runs faster eagerly than it compiles)."""
  method = methods.get(config.method)
  model = method.build_model(config, 5, None)
  x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
  variables = tiny.variables(model, x, train=False)
  state = state_lib.create_state(method, model, variables, config, steps_per_epoch=10)
  step = steps.make_train_step(method, config, None)
  step = jax.jit(step) if jit else step
  batch = {'image': x, 'label': jnp.array([0, 1, 2, 3])}
  for i in range(steps_n):
    state, _ = step(state, batch, jax.random.key(i), None)
  return variables, state.params, state.batch_stats


def unchanged(before, after, name):
  b, a = before.get(name, {}), after.get(name, {})
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(b), jax.tree.leaves(a)))


def moved_everywhere(before, after, name):
  return all(not np.array_equal(x, y)
             for x, y in zip(jax.tree.leaves(before[name]), jax.tree.leaves(after[name])))
