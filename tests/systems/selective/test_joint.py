"""The joint loss and its gradients vs a hand computation; head isolation; MultiSteps."""
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax.systems.selective import joint
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import steps as steps_lib
from tests.systems.selective import tiny


# Jitted (eager ResNet gradients take tens of seconds); apply_fn and the weight are static.
_grad = jax.jit(jax.grad(joint.loss_fn, has_aux=True), static_argnums=(2, 6))


_MODEL = tiny.model()  # one model: its apply is a static argument, so one compile


def _setup():
  model = _MODEL
  variables = joint.init_joint_variables(model, tiny.SIZE, seed=0)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(5, tiny.SIZE, tiny.SIZE, 3)), jnp.float32)  # 2 + 3
  return model, variables, x


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_loss_and_head_gradients_equal_the_hand_computation():
  model, v, x = _setup()
  yt, ys = jnp.array([0, 2]), jnp.array([3, 1, 1])
  grads, (metrics, _) = _grad(
      v['params'], v['batch_stats'], model.apply, x, yt, ys, 0.5)
  # Features of the trunk on the mixed batch (BN in training mode), then by hand in numpy.
  feats = np.asarray(model.trunk.apply(
      {'params': v['params']['trunk'], 'batch_stats': v['batch_stats']['trunk']}, x, True,
      mutable=['batch_stats'])[0][0], np.float64)
  ft, fs = feats[:2], feats[2:]
  wt, bt = (np.asarray(v['params']['fc_target'][k], np.float64) for k in ('kernel', 'bias'))
  ws, bs = (np.asarray(v['params']['fc_source'][k], np.float64) for k in ('kernel', 'bias'))
  pt, ps = _softmax(ft @ wt + bt), _softmax(fs @ ws + bs)
  ce_t = -np.mean(np.log(pt[np.arange(2), [0, 2]]))
  ce_s = -np.mean(np.log(ps[np.arange(3), [3, 1, 1]]))
  np.testing.assert_allclose(float(metrics['loss']), 0.5 * ce_t + 0.5 * ce_s, rtol=1e-5)
  # d loss / d W_target = 0.5 / B_t * f_t^T (p_t - onehot): target images only.
  dt = (pt - np.eye(3)[[0, 2]]) * 0.5 / 2
  ds = (ps - np.eye(4)[[3, 1, 1]]) * 0.5 / 3
  np.testing.assert_allclose(grads['fc_target']['kernel'], ft.T @ dt, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(grads['fc_target']['bias'], dt.sum(0), rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(grads['fc_source']['kernel'], fs.T @ ds, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(grads['fc_source']['bias'], ds.sum(0), rtol=1e-4, atol=1e-7)


def test_each_head_learns_only_from_its_own_domain():
  model, v, x = _setup()
  g = lambda yt, ys: _grad(
      v['params'], v['batch_stats'], model.apply, x, jnp.array(yt), jnp.array(ys), 0.5)[0]
  base, other_source = g([0, 2], [3, 1, 1]), g([0, 2], [0, 0, 2])
  other_target = g([1, 1], [3, 1, 1])
  same = lambda a, b: jax.tree.all(jax.tree.map(lambda p, q: bool(jnp.allclose(p, q)), a, b))
  assert same(base['fc_target'], other_source['fc_target'])   # source labels: no effect
  assert not same(base['fc_source'], other_source['fc_source'])
  assert same(base['fc_source'], other_target['fc_source'])   # target labels: no effect
  assert not same(base['fc_target'], other_target['fc_target'])
  assert not same(base['trunk'], other_source['trunk'])       # the trunk learns from both
  assert not same(base['trunk'], other_target['trunk'])


def test_multisteps_applies_the_mean_gradient_every_iter_size_batches():
  model, v, x = _setup()
  config = tiny.config(iter_size=2, decay_iterations=())
  config.optim.weight_decay = 0.0
  state = joint.create_round_state(model, v, config)
  step = jax.jit(joint.make_joint_train_step(config))
  images = np.random.default_rng(1).integers(0, 256, (2, 5, tiny.SIZE, tiny.SIZE, 3), np.uint8)
  yt, ys = jnp.array([0, 2]), jnp.array([3, 1, 1])
  p0 = jax.tree.map(np.asarray, state.params)
  grads, stats = [], v['batch_stats']
  for i in range(2):  # the gradients each micro-batch sees, by hand
    xi = steps_lib.normalize(jnp.asarray(images[i]), config.data)
    gi, (_, stats) = _grad(
        v['params'], stats, model.apply, xi, yt, ys, 0.5)
    grads.append(gi)
  batch = lambda i: {'image': images[i, :2], 'label': yt, 'source_image': images[i, 2:],
                     'source_label': ys}
  state, _ = step(state, batch(0), jax.random.key(0), None)
  assert jax.tree.all(jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), p0,
                                   jax.tree.map(np.asarray, state.params)))  # not yet
  state, _ = step(state, batch(1), jax.random.key(0), None)
  want = jax.tree.map(lambda p, a, b: p - 0.1 * (a + b) / 2, p0, *grads)
  jax.tree.map(lambda w, g: np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6), want,
               jax.tree.map(np.asarray, state.params))


def test_the_joint_train_step_keeps_barriers_on_a_cpu_where_the_model_relies_on_them():
  """As the training loop's (tests/train/test_memory.py): model.remat's recomputation
  survives XLA:CPU only with the barriers kept."""
  _, variables, _ = _setup()
  for remat, want in ((False, None), (True, parallel_lib.KEEP_BARRIERS)):
    config = tiny.config()
    with config.unlocked():
      config.model.remat = remat
    asked = []

    class Recording(parallel_lib.Parallel):
      def train_step(self, fn, options=None):
        asked.append(options)

    joint.make_steps(config, Recording('jit'), variables['params'])
    assert asked == [want]
