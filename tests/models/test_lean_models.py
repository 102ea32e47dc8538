"""config.model.lean_units on whole networks: tiny ResNets trained one step with
its conv + BN pairs (and AdaFilter's gated pairs) as lean units (models/lean.py) gives
the loss, every gradient and the BN statistics of the network as flax runs it."""
import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adafilter_jax.models import layers, lean, transform
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


UNITS = ('conv_bn', 'gated_conv_bn', 'gated_conv_bn_eq6')
# One block a stage, every part of the deep archs (stem, projections, both block kinds):
# the wiring is the same at any depth, and tests/models/test_lean.py checks the units.
CONVS14 = 17  # ResNet-14's: the stem, 4 bottlenecks' 3, 4 projections
CONVS10 = 12  # ResNet-10's: the stem, 4 basic blocks' 2, 3 projections


def lean_against_flax(monkeypatch, build, **options):
  """`build(lean_units=...)`'s train step, lean against not, from the same variables;
  -> how many of each lean unit the lean step traced."""
  ran = dict.fromkeys(UNITS, 0)
  for name in UNITS:
    def counted(*a, _unit=getattr(lean, name), _name=name, **kw):
      ran[_name] += 1
      return _unit(*a, **kw)
    monkeypatch.setattr(lean, name, counted)
  variables = with_moved_statistics(tiny.init(build(lean_units=False, **options), SIZE))
  want = train_step(build(lean_units=False, **options), variables)
  assert not any(ran.values())
  got = train_step(build(lean_units=True, **options), variables)
  assert_same(got, want)
  return ran


FINETUNE = functools.partial(tiny.resnet, 'resnet14', NUM_CLASSES, width=4)


@pytest.mark.parametrize('arch,options,units', [
    ('resnet10', dict(remat=True, recompute_s='all'), dict(gated_conv_bn=CONVS10)),
    ('resnet10', dict(gated_bn=False, gated_layers='blocks'),
     dict(conv_bn=4, gated_conv_bn_eq6=CONVS10 - 4)),
], ids=['eq5+remat+recompute_s', 'eq6+blocks'])
def test_adafilter_lean_units_give_flaxs_numbers(monkeypatch, arch, options, units):
  """LSTM gate; Eq. 5 with every conv gated, its blocks recomputed and S(x) recomputed in
  the backward; Eq. 6 with gated_layers='blocks', which leaves the stem and the
  projections ungated: the runner's plain lean units run there. (Each option alone is
  checked unit by unit in tests/models/test_lean.py.)"""
  recompute_s = options.pop('recompute_s', 'expanding')
  build = functools.partial(tiny.adafilter, arch, NUM_CLASSES, width=4)
  ran = lean_against_flax(monkeypatch, lambda lean_units, **o: build(
      lean_units=lean_units, recompute_s=recompute_s if lean_units else 'none', **o),
      **options)
  assert ran == {**dict.fromkeys(UNITS, 0), **units}


def test_finetune_lean_units_give_flaxs_numbers(monkeypatch):
  """Under remat too: the plain unit is the same function inside a recomputed block."""
  ran = lean_against_flax(monkeypatch, FINETUNE, remat=True)
  assert ran == {**dict.fromkeys(UNITS, 0), 'conv_bn': CONVS14}


def test_spottune_lean_units_give_flaxs_numbers(monkeypatch):
  """SpotTune's blocks pass the network's lean ReLU (layers.relu) to both copies; the
  fine-tuned copies' units and the stem run lean (the frozen copies run in inference mode,
  the policy's trunk as it is)."""
  from adafilter_jax import models  # pylint: disable=g-import-not-at-top
  build = functools.partial(models.spottune_backbone, 'resnet10', NUM_CLASSES, width=4,
                            policy_width=4)
  ran = lean_against_flax(monkeypatch, build)
  assert ran == {**dict.fromkeys(UNITS, 0), 'conv_bn': CONVS10}


def test_lean_units_take_the_statistics_of_the_devices_batch(monkeypatch):
  """Under pmap's BN axis (`bn_axis_name`; here vmap's axis of the same name, each
  'device' taking the gradient of its own half of the batch): the lean units' numbers
  are flax's BN's over the axis, for AdaFilter's ResNet-10, whose ungated pairs
  (the stem and the projections under 'blocks') run the plain unit too."""
  x, labels = images()
  halves = lambda a: a.reshape((2, a.shape[0] // 2) + a.shape[1:])

  def step(model, variables):
    def device(x, labels):
      def loss(params):
        (logits, _), new = model.apply({**variables, 'params': params}, x, train=True,
                                       mutable=['batch_stats'])
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), new
      (value, new), grads = jax.value_and_grad(loss, has_aux=True)(variables['params'])
      return value, grads, new['batch_stats']
    return jax.jit(jax.vmap(device, axis_name='devices'))(halves(x), halves(labels))

  for build in (functools.partial(tiny.adafilter, 'resnet10', NUM_CLASSES, width=4,
                                  gated_layers='blocks'),):
    models = {lean_units: build(lean_units=lean_units, bn_axis_name='devices')
              for lean_units in (False, True)}
    variables = with_moved_statistics(tiny.init(models[False], SIZE))
    want = step(models[False], variables)
    ran = []
    monkeypatch.setattr(lean, 'update_batch_stats',
                        lambda norm, *a, _f=lean.update_batch_stats: ran.append(1) or _f(norm, *a))
    assert_same(step(models[True], variables), want)
    monkeypatch.undo()
    assert ran


class OddNorms(nn.Module):
  """Two conv + BN pairs whose BN has no bias: no lean unit computes it."""
  @nn.compact
  def __call__(self, x, train: bool):
    for i in range(2):
      x = layers.Conv(4, 3, padding=1, name=f'conv{i}')(x)
      x = nn.relu(nn.BatchNorm(use_running_average=not train, use_bias=False,
                               name=f'bn{i}')(x))
    return x.mean((1, 2))


@pytest.mark.parametrize('gated_bn', [True, False])
def test_a_norm_no_lean_unit_fits_runs_as_the_model_has_it(monkeypatch, gated_bn):
  """The runner defers each conv to its norm; where the norm does not fit a lean unit,
  the conv (and S) run there and the norm as written: the numbers of `lean=False`, for
  a gated and an ungated pair."""
  x = images()[0]
  decisions = np.random.RandomState(3).rand(BATCH, 4) > 0.5
  plan = transform.record(OddNorms(), x, False)
  plan = (plan[0], dataclasses.replace(plan[1], gated=False))

  def step(use_lean):
    model = transform.gate(OddNorms(), gate=functools.partial(tiny.FixedGate, decisions),
                           plan=plan, gated_bn=gated_bn, lean=use_lean)
    variables = transform.with_copies(model.init(jax.random.key(0), x, False), plan)

    def loss(params):
      (y, _), new = model.apply({**variables, 'params': params}, x, True,
                                mutable=['batch_stats'])
      return jnp.vdot(y, jnp.arange(y.size, dtype=y.dtype).reshape(y.shape)), new
    (value, new), grads = jax.value_and_grad(loss, has_aux=True)(variables['params'])
    return value, grads, new['batch_stats']
  want = step(False)
  asked = []
  monkeypatch.setattr(lean, 'runs_lean',
                      lambda *a, _f=lean.runs_lean: asked.append(_f(*a)) or asked[-1])
  assert_same(step(True), want)
  assert asked == [None, None]   # each pair was deferred to its norm, which did not fit
