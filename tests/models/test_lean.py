"""The lean units (models/lean.py) against the units as autodiff sees them: a conv, flax's
BatchNorm (or the BN formula by hand) and the gate's product form g*a + (1-g)*b, in
value, batch statistics and the gradient of every input that trains; and what each keeps
for its backward."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax.models import layers, lean

EPS = 1e-5
# (kernel, stride, pad): a 1x1, a strided 3x3.
CONVS = [(1, 1, 0), (3, 2, 1)]


def conv(x, w, stride, pad):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def bn_by_hand(z, scale, bias):
  """Training-mode BN, two-pass variance (not flax's E[z^2] - E[z]^2)."""
  mean = z.mean((0, 1, 2))
  var = jnp.square(z - mean).mean((0, 1, 2))
  return (z - mean) / jnp.sqrt(var + EPS) * scale + bias, mean, var


def flax_bn(dtype):
  """The project's BN (layers.batch_norm's settings) as an `apply` of params and stats."""
  bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=EPS, dtype=dtype)

  def apply(z, scale, bias, stats):
    y, new = bn.apply({'params': {'scale': scale, 'bias': bias}, 'batch_stats': stats}, z,
                      mutable=['batch_stats'])
    return y, new['batch_stats']
  return apply


def data(dtype, k=1, b=4, h=6, cin=5, cout=3, seed=0):
  r = np.random.RandomState(seed)
  arr = lambda *shape: jnp.asarray(r.randn(*shape), dtype)
  return dict(x=arr(b, h, h, cin), w_f=arr(k, k, cin, cout), w_s=arr(k, k, cin, cout),
              scale_f=arr(cout) + 1, bias_f=arr(cout), scale_s=arr(cout) + 1,
              bias_s=arr(cout), g=jnp.asarray(r.rand(b, cout) > 0.5, dtype),
              stats={'mean': arr(cout), 'var': jnp.exp(arr(cout))})


def cotangent(y):
  return jnp.asarray(np.random.RandomState(7).randn(*y.shape), y.dtype)


def assert_close(got, want, tol):
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


# ---- the plain unit against flax's BatchNorm, running statistics included ----

def plain_pair(k, stride, pad, dtype, impl='xla', remat=False):
  """(lean, reference): (x, w, scale, bias, stats) -> (y, updated running stats); the
  lean unit with the conv `impl` (convs.IMPLS), under `jax.checkpoint` if `remat`."""
  bn = flax_bn(dtype)

  def reference(x, w, scale, bias, stats):
    return bn(conv(x.astype(dtype), w.astype(dtype), stride, pad), scale, bias, stats)

  def lean_unit(x, w, scale, bias, stats):
    y, mean, var = lean.conv_bn(x, w, scale, bias, strides=stride, padding=pad, dtype=dtype,
                                impl=impl)
    return y, {'mean': lean.running(stats['mean'], mean),
               'var': lean.running(stats['var'], var)}
  return (jax.checkpoint(lean_unit) if remat else lean_unit), reference


def value_and_grads(unit, args, argnums):
  """The unit's outputs, and the gradient of a loss that reads y and the new statistics
  (so that the statistics' own gradients are checked too)."""
  out = unit(*args)
  dy, dstats = cotangent(out[0]), jax.tree.map(lambda s: cotangent(s) + 1, out[1])

  def loss(*a):
    y, stats = unit(*a)
    return (jnp.vdot(y.astype(jnp.float32 if y.dtype == jnp.bfloat16 else y.dtype), dy)
            + sum(jnp.vdot(s, d) for s, d in zip(jax.tree.leaves(stats),
                                                  jax.tree.leaves(dstats))))
  return out, jax.grad(loss, argnums)(*args)


@pytest.mark.parametrize('k,stride,pad', CONVS)
def test_plain_unit_equals_flax_batchnorm_in_float64(k, stride, pad):
  with jax.enable_x64(True):
    d = data(jnp.float64, k)
    args = (d['x'], d['w_f'], d['scale_f'], d['bias_f'], d['stats'])
    lean_unit, reference = plain_pair(k, stride, pad, jnp.float64)
    assert_close(value_and_grads(lean_unit, args, (0, 1, 2, 3)),
                 value_and_grads(reference, args, (0, 1, 2, 3)), 1e-9)


@pytest.mark.parametrize('impl,remat', [('xla', False), ('mixed', False), ('xla', True)])
@pytest.mark.parametrize('k,stride,pad', CONVS)
def test_plain_unit_equals_flax_batchnorm_in_float32(k, stride, pad, impl, remat):
  """Also with 'mixed' convs (config.model.conv_impl) and under remat (config.model.remat
  wraps blocks in `nn.remat`)."""
  d = data(jnp.float32, k)
  args = (d['x'], d['w_f'], d['scale_f'], d['bias_f'], d['stats'])
  lean_unit, reference = plain_pair(k, stride, pad, jnp.float32, impl, remat)
  assert_close(value_and_grads(lean_unit, args, (0, 1, 2, 3)),
               value_and_grads(reference, args, (0, 1, 2, 3)), 1e-5)


def test_plain_unit_in_bfloat16_keeps_dtypes_and_flax_values():
  """bf16 compute, float32 params and statistics, as `layers.Conv` + `batch_norm(dtype=
  bfloat16)` give; values within bf16's rounding of flax's."""
  d = data(jnp.float32, 3)
  args = (d['x'], d['w_f'], d['scale_f'], d['bias_f'], d['stats'])
  lean_unit, reference = plain_pair(3, 2, 1, jnp.bfloat16)
  got, want = (value_and_grads(u, args, (0, 1, 2, 3)) for u in (lean_unit, reference))
  assert got[0][0].dtype == jnp.bfloat16
  assert [a.dtype for a in jax.tree.leaves(got)] == [a.dtype for a in jax.tree.leaves(want)]
  assert_close(got, want, 3e-2)


# ---- the gated units against the product form with the BN formula by hand ----

GATED_ARGS = ('x', 'w_f', 'w_s', 'scale_f', 'bias_f', 'scale_s', 'bias_s', 'g')
TRAINED = (0, 1, 3, 4, 5, 6, 7)   # all but w_s (S is frozen)


def gated_reference(k, stride, pad, eq6=False):
  def unit(x, w_f, w_s, scale_f, bias_f, scale_s, bias_s, g):
    f = conv(x, w_f, stride, pad)
    s = conv(x, jax.lax.stop_gradient(w_s), stride, pad)
    g = g[:, None, None, :]
    if eq6:
      y, mean, var = bn_by_hand(g * f + (1 - g) * s, scale_f, bias_f)
      return y, {'mean': mean, 'var': var}
    a, mean_f, var_f = bn_by_hand(f, scale_f, bias_f)
    b, mean_s, var_s = bn_by_hand(s, scale_s, bias_s)
    return g * a + (1 - g) * b, {'ft': (mean_f, var_f), 'pre': (mean_s, var_s)}
  return unit


def gated_lean(k, stride, pad, eq6=False, dtype=jnp.float64, **kw):
  def unit(x, w_f, w_s, scale_f, bias_f, scale_s, bias_s, g):
    if eq6:
      y, mean, var = lean.gated_conv_bn_eq6(x, w_f, w_s, (scale_f, bias_f), g, strides=stride,
                                            padding=pad, dtype=dtype, **kw)
      return y, {'mean': mean, 'var': var}
    y, ft, pre = lean.gated_conv_bn(x, w_f, w_s, (scale_f, bias_f), (scale_s, bias_s), g,
                                    strides=stride, padding=pad, dtype=dtype, **kw)
    return y, {'ft': ft, 'pre': pre}
  return unit


@pytest.mark.parametrize('eq6', [False, True])
@pytest.mark.parametrize('k,stride,pad', CONVS)
def test_gated_unit_equals_the_product_form_in_float64(k, stride, pad, eq6):
  with jax.enable_x64(True):
    d = data(jnp.float64, k)
    args = tuple(d[n] for n in GATED_ARGS)
    want = value_and_grads(gated_reference(k, stride, pad, eq6), args, range(8))
    got = value_and_grads(gated_lean(k, stride, pad, eq6), args, range(8))
    assert_close(got, want, 1e-9)
    assert not np.any(got[1][2]) and not np.any(want[1][2])   # S's kernel: no gradient
    for policy in ('all', 'expanding', True):
      again = value_and_grads(gated_lean(k, stride, pad, eq6, recompute_s=policy), args,
                              range(8))
      for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(got)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('eq6', [False, True])
def test_gated_unit_equals_the_product_form_in_float32(eq6):
  d = data(jnp.float32, 3)
  args = tuple(d[n] for n in GATED_ARGS)
  assert_close(value_and_grads(gated_lean(3, 2, 1, eq6, jnp.float32), args, TRAINED),
               value_and_grads(gated_reference(3, 2, 1, eq6), args, TRAINED), 1e-5)


def test_gated_unit_in_bfloat16():
  d = data(jnp.float32, 3)
  args = tuple(d[n] for n in GATED_ARGS)
  got = value_and_grads(gated_lean(3, 2, 1, dtype=jnp.bfloat16), args, TRAINED)
  want = value_and_grads(gated_reference(3, 2, 1), args, TRAINED)
  assert got[0][0].dtype == jnp.bfloat16
  assert [a.dtype for a in jax.tree.leaves(got[1])] == [jnp.float32] * len(TRAINED)
  assert_close(got, want, 5e-2)


def test_a_nan_in_the_branch_not_picked_reaches_neither_y_nor_the_gradients():
  d = data(jnp.float32, 1)
  g = d['g'].at[:, 0].set(1.0)        # channel 0: every example picks F ...
  args = dict(d, g=g)
  poisoned = dict(args, bias_s=d['bias_s'].at[0].set(jnp.nan))  # ... S's channel 0 is NaN
  unit = gated_lean(1, 1, 0, dtype=jnp.float32)
  clean, dirty = (value_and_grads(unit, tuple(a[n] for n in GATED_ARGS), TRAINED)
                  for a in (args, poisoned))
  np.testing.assert_array_equal(dirty[0][0], clean[0][0])
  for name, grad in zip([GATED_ARGS[i] for i in TRAINED], dirty[1]):
    assert np.all(np.isfinite(grad)), name
  assert not np.any(dirty[1][-1][:, 0])   # no gate signal from a NaN difference


@pytest.mark.parametrize('eq6', [False, True])
def test_statistics_over_devices_are_those_of_the_whole_batch(eq6):
  """Under a named axis (vmap's, as pmap's: the gradient taken per device, as a pmap'd
  train step takes it), two halves of a batch compute what the whole batch does."""
  with jax.enable_x64(True):
    d = data(jnp.float64, 3, b=4)
    args = tuple(d[n] for n in GATED_ARGS)
    reference = gated_reference(3, 2, 1, eq6)
    want = value_and_grads(reference, args, TRAINED)
    dy, dstats = cotangent(want[0][0]), jax.tree.map(lambda s: cotangent(s) + 1, want[0][1])
    unit = gated_lean(3, 2, 1, eq6, axis_name='devices')

    def device_loss(*a):   # a device's share of value_and_grads' loss: its y, half the stats
      y, stats = unit(*a[:8])
      return jnp.vdot(y, a[8]) + sum(jnp.vdot(s, t / 2) for s, t in
                                     zip(jax.tree.leaves(stats), jax.tree.leaves(dstats)))
    halves = lambda a: a.reshape((2, a.shape[0] // 2) + a.shape[1:])
    per_device = (0, None, None, None, None, None, None, 0, 0)
    sharded = tuple(map(halves, args[:1])) + args[1:7] + (halves(args[7]), halves(dy))
    y, stats = jax.vmap(unit, per_device[:8], axis_name='devices')(*sharded[:8])
    grads = jax.vmap(jax.grad(device_loss, TRAINED), per_device,
                     axis_name='devices')(*sharded)
    got = ((y.reshape(want[0][0].shape), jax.tree.map(lambda s: s[0], stats)),
           [g.reshape(w.shape) if i in (0, 7) else g.sum(0)
            for i, g, w in zip(TRAINED, grads, want[1])])
    assert_close(got, want, 1e-9)


# ---- what each unit keeps for its backward ----

def residual_bytes(unit, args) -> int:
  """Bytes of the arrays `jax.vjp` keeps for the backward (its closure's leaves)."""
  return sum(a.nbytes for a in jax.tree.leaves(jax.vjp(unit, *args)[1]))


def test_the_lean_units_keep_x_and_the_conv_outputs_only():
  d = data(jnp.float32, 1, b=2, h=8, cin=32, cout=8)   # a ResNet bottleneck's 1x1: 4:1
  args = tuple(d[n] for n in GATED_ARGS)
  x_bytes, z_bytes = d['x'].nbytes, d['x'].nbytes // 4
  small = sum(a.nbytes for a in args[1:]) + 8 * 4 * 8  # kernels, BN params, g, statistics
  bn = flax_bn(jnp.float32)
  plain = lambda x, w, scale, bias: bn(conv(x, w, 1, 0), scale, bias, d['stats'])[0]
  plain_args = (d['x'], d['w_f'], d['scale_f'], d['bias_f'])
  reference_plain = residual_bytes(plain, plain_args)
  assert reference_plain >= x_bytes + 2 * z_bytes   # flax keeps 2z and z - mean
  lean_plain = residual_bytes(lambda *a: lean.conv_bn(*a)[0], plain_args)
  lean_gated = residual_bytes(lambda *a: gated_lean(1, 1, 0, dtype=jnp.float32)(*a)[0], args)
  recomputed = residual_bytes(
      lambda *a: gated_lean(1, 1, 0, dtype=jnp.float32, recompute_s=True)(*a)[0], args)
  assert x_bytes + z_bytes <= lean_plain <= x_bytes + z_bytes + small
  assert x_bytes + 2 * z_bytes <= lean_gated <= x_bytes + 2 * z_bytes + small
  assert x_bytes + z_bytes <= recomputed <= x_bytes + z_bytes + small
  assert lean_gated <= 1.2 * reference_plain
  reference_gated = residual_bytes(lambda *a: gated_reference(1, 1, 0)(*a)[0], args)
  assert reference_gated >= x_bytes + 6 * z_bytes


@pytest.mark.parametrize('eq6', [False, True])
def test_expanding_recomputes_s_where_it_is_larger_than_x(eq6):
  """recompute_s='expanding' keeps x in place of S(x) where S(x) is the larger tensor (a
  bottleneck's last 1x1, 1:4) and S(x) where it is not (its first, 4:1)."""
  def kept(cin, cout, policy):
    d = data(jnp.float32, 1, b=2, h=8, cin=cin, cout=cout)
    unit = gated_lean(1, 1, 0, eq6, dtype=jnp.float32, recompute_s=policy)
    return residual_bytes(lambda *a: unit(*a)[0], tuple(d[n] for n in GATED_ARGS))
  s_bytes = lambda cout: 2 * 8 * 8 * cout * 4
  assert kept(8, 32, 'none') - kept(8, 32, 'expanding') == s_bytes(32)   # recomputed
  assert kept(8, 32, 'expanding') == kept(8, 32, 'all')
  assert kept(32, 8, 'expanding') == kept(32, 8, 'none')                  # kept
  assert kept(32, 8, 'none') - kept(32, 8, 'all') == s_bytes(8)


def test_recompute_s_policies_and_their_errors():
  assert [lean.recompute_policy(v) for v in (False, True, 'expanding')] == [
      'none', 'all', 'expanding']
  with pytest.raises(ValueError, match="recompute_s='some'.*'none', 'expanding', 'all'"):
    lean.recompute_policy('some')


# ---- a flax model's conv + BN pairs, run lean by an interceptor (as a runner would) ----

class TwoUnits(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = True):
    for i in range(2):
      x = layers.Conv(4, 3, strides=1 + i, padding=1, name=f'conv{i}')(x)
      x = nn.relu(layers.batch_norm(train, name=f'bn{i}')(x))
    return x


class LeanPairs:
  """An interceptor that runs each `layers.Conv` whose output goes into an `nn.BatchNorm`
  as `lean.conv_bn`, with the modules' own variables, updating their running statistics
  (the conv's own output, unused then, is left to XLA's dead-code elimination)."""

  def __init__(self):
    self.conv, self.ran = None, 0

  def __call__(self, next_fun, args, kwargs, ctx):
    m = ctx.module
    if ctx.method_name != '__call__' or m.is_initializing():
      return next_fun(*args, **kwargs)
    if isinstance(m, layers.Conv):
      self.conv = (m, args[0], next_fun(*args, **kwargs))
      return self.conv[2]
    conv, self.conv = self.conv, None
    kw = lean.unit_kwargs(conv[0], m) if conv is not None else None
    if kw is None or args[0] is not conv[2] or m.use_running_average:
      return next_fun(*args, **kwargs)
    y, mean, var = lean.conv_bn(conv[1], conv[0].get_variable('params', 'kernel'),
                                m.get_variable('params', 'scale'),
                                m.get_variable('params', 'bias'), **kw)
    lean.update_batch_stats(m, mean, var)
    self.ran += 1
    return y


def test_a_flax_models_conv_bn_pairs_run_lean_with_the_same_numbers():
  model, x = TwoUnits(), jnp.asarray(np.random.RandomState(0).randn(2, 8, 8, 3), jnp.float32)
  variables = model.init(jax.random.key(0), x)
  variables = {**variables, 'batch_stats': jax.tree.map(lambda v: v + 0.5,
                                                         variables['batch_stats'])}
  r = cotangent(model.apply(variables, x, mutable=['batch_stats'])[0])
  runner = LeanPairs()

  def loss(params, lean_units):
    def run():
      return model.apply({**variables, 'params': params}, x, mutable=['batch_stats'])
    if lean_units:
      with nn.intercept_methods(runner):
        y, stats = run()
    else:
      y, stats = run()
    return jnp.vdot(y, r), (y, stats)
  got, want = (jax.grad(loss, has_aux=True)(variables['params'], lean_units)
               for lean_units in (True, False))
  assert runner.ran == 2   # both pairs ran lean
  assert_close(got, want, 1e-5)
  assert jax.tree.structure(got) == jax.tree.structure(want)
  assert lean.unit_kwargs(layers.Conv(4, 3), nn.BatchNorm(use_bias=False)) is None


def test_the_lean_relu_is_nn_relu_in_value_and_gradient():
  """layers.relu (the blocks' with lean units) reads its gradient's mask from its output:
  the same numbers as nn.relu's, at 0 included (gradient 0 there)."""
  x = jnp.asarray(np.random.RandomState(0).randn(4, 3, 5).astype(np.float32)).at[0, 0].set(0.0)
  dy = jnp.asarray(np.random.RandomState(1).randn(4, 3, 5).astype(np.float32))
  for f in (layers.relu, nn.relu):
    y, vjp = jax.vjp(f, x)
    np.testing.assert_array_equal(y, np.maximum(np.asarray(x), 0))
    np.testing.assert_array_equal(vjp(dy)[0], np.where(np.asarray(x) > 0, dy, 0))
  assert float(jax.grad(lambda v: layers.relu(v).sum())(x)[0, 0, 0]) == 0.0
