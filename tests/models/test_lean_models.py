"""config.model.lean_units on whole networks: the tiny ResNet-50 trained one step with
its conv + BN pairs (and AdaFilter's gated pairs) as lean units (models/lean.py) gives
the loss, every gradient and the BN statistics of the network as flax runs it."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.models import tiny

NUM_CLASSES, SIZE, BATCH = 5, 16, 4


def images():
  r = np.random.RandomState(0)
  return (jnp.asarray(r.randn(BATCH, SIZE, SIZE, 3), jnp.float32),
          jnp.asarray(r.randint(0, NUM_CLASSES, BATCH)))


def with_moved_statistics(variables):
  """Running statistics away from init's (0, 1), so that their update is checked."""
  r = np.random.RandomState(1)
  moved = jax.tree.map(lambda v: v + np.abs(r.randn(*v.shape)).astype(v.dtype),
                       variables['batch_stats'])
  return {**variables, 'batch_stats': moved}


def train_step(model, variables):
  """(loss, gradient of every param, the new batch statistics) of one training forward."""
  x, labels = images()

  @jax.jit
  def run(variables):
    def loss(params):
      (logits, _), new = model.apply({**variables, 'params': params}, x, train=True,
                                     mutable=['batch_stats'],
                                     rngs={'gate': jax.random.key(2)})
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), new
    (value, new), grads = jax.value_and_grad(loss, has_aux=True)(variables['params'])
    return value, grads, new['batch_stats']
  return run(variables)


def assert_same(got, want, tol=1e-5):
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1e-3, np.abs(b).max()),
                               err_msg=jax.tree_util.keystr(path))


def lean_against_flax(build, **options):
  """`build(lean_units=...)`'s train step, lean against not, from the same variables."""
  variables = with_moved_statistics(tiny.init(build(lean_units=False, **options), SIZE))
  want, got = (train_step(build(lean_units=lean, **options), variables)
               for lean in (False, True))
  assert_same(got, want)
  return got


ADAFILTER = functools.partial(tiny.adafilter, 'resnet50', NUM_CLASSES, width=4)
FINETUNE = functools.partial(tiny.resnet, 'resnet50', NUM_CLASSES, width=4)


@pytest.mark.parametrize('options', [dict(), dict(gated_bn=False), dict(remat=True),
                                     dict(gated_layers='blocks', recompute_s=True)],
                         ids=['eq5', 'eq6', 'remat', 'blocks+recompute_s'])
def test_adafilter_lean_units_give_flaxs_numbers(options):
  """LSTM gate; gated_layers='blocks' leaves the stem and the projections ungated, so
  the runner's plain lean units run too."""
  recompute_s = options.pop('recompute_s', False)
  lean_against_flax(lambda lean_units, **o: ADAFILTER(
      lean_units=lean_units, recompute_s=recompute_s and lean_units, **o), **options)


@pytest.mark.parametrize('remat', [False, True])
def test_finetune_lean_units_give_flaxs_numbers(remat):
  lean_against_flax(FINETUNE, remat=remat)
