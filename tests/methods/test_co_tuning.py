"""Co-Tuning: the category relationship on planted probabilities, its loss against a hand
computation (alone and inside a real train step), and the source head from the
pretrained fc."""
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax import methods, models
from adafilter_jax.methods import co_tuning
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from adafilter_jax.weights import pretrained
from tests.methods import tiny


def _log_softmax(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_relationship_is_the_mean_source_probability_per_target_class():
  rng = np.random.RandomState(0)
  probs = rng.dirichlet(np.ones(4), size=7)  # 7 training images, 4 source classes
  labels = np.array([2, 0, 2, 1, 0, 2, 1])
  asked = []

  def train_outputs(names):  # two batches of source logits whose softmax is `probs`
    asked.append(list(names))
    for part in (slice(0, 3), slice(3, 7)):
      yield {co_tuning.SOURCE_LOGITS: np.log(probs[part]) + 5.0}, labels[part]

  r = co_tuning.prepare(methods.Preparation(None, 3, train_outputs))['relationship']
  hand = np.stack([(probs[1] + probs[4]) / 2, (probs[3] + probs[6]) / 2,
                   (probs[0] + probs[2] + probs[5]) / 3])
  np.testing.assert_allclose(r, hand, rtol=1e-5)
  assert asked == [[co_tuning.SOURCE_LOGITS]] and r.dtype == np.float32
  with pytest.raises(ValueError, match=r'target classes \[3\] have no training image'):
    co_tuning.prepare(methods.Preparation(None, 4, train_outputs))


def test_loss_equals_the_hand_computation():
  # co_tuning keeps the pretrained fc: a config without weights is refused (tested below)
  config = tiny.config('co_tuning', pretrained='weights', **{'co_tuning.trade_off': 0.7})
  rng = np.random.RandomState(1)
  relationship = rng.dirichlet(np.ones(6), size=5).astype(np.float32)
  z = rng.randn(4, 6).astype(np.float32)
  labels = np.array([3, 0, 3, 4])
  got = methods.get('co_tuning').loss.fn(methods.LossContext(
      sown={co_tuning.SOURCE_LOGITS: z}, batch={'label': labels},
      constants={'relationship': relationship}, config=config))
  hand = 0.7 * np.mean([-np.dot(relationship[y], _log_softmax(z[i]))
                        for i, y in enumerate(labels)])
  np.testing.assert_allclose(got, hand, rtol=1e-5)


def test_train_step_adds_the_loss_on_the_source_head():
  """A real step: loss - ce is the hand-computed Co-Tuning term on the source logits of
  the same forward pass; the source head trains, at the network's rate."""
  config = tiny.config('co_tuning', 'resnet18', pretrained='weights',
                       **{'co_tuning.source_classes': 6})
  method = methods.get('co_tuning')
  model = method.build_model(config, 5, None)
  x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
  batch = {'image': x, 'label': jnp.array([0, 1, 4, 1])}
  variables = tiny.variables(model, x, train=False)
  relationship = np.random.RandomState(2).dirichlet(np.ones(6), size=5).astype(np.float32)
  state = state_lib.create_state(method, model, variables, config, steps_per_epoch=10)
  step = jax.jit(steps.make_train_step(method, config, None,
                                      constants={'relationship': relationship}))
  new_state, metrics = step(state, batch, jax.random.key(0), None)

  _, sown = jax.jit(lambda v: model.apply(v, steps.normalize(x, config.data), train=True,
                                          mutable=['batch_stats', 'intermediates']))(variables)
  z = sown['intermediates'][co_tuning.SOURCE_LOGITS][0]
  hand = config.co_tuning.trade_off * np.mean(
      [-np.dot(relationship[y], _log_softmax(z[i])) for i, y in enumerate([0, 1, 4, 1])])
  np.testing.assert_allclose(metrics['loss'] - metrics['ce'], hand, rtol=1e-4)
  assert method.labels(variables['params'], config)['source_fc']['kernel'] == 'network'
  assert not np.array_equal(new_state.params['source_fc']['kernel'],
                            variables['params']['source_fc']['kernel'])


def test_source_head_starts_from_the_pretrained_fc():
  config = tiny.config('co_tuning', 'resnet18', pretrained='weights',
                       **{'co_tuning.source_classes': 6})
  model = methods.get('co_tuning').build_model(config, 5, None)
  x = jnp.zeros((1, 16, 16, 3))
  fresh = tiny.variables(model, x, train=False)
  source = tiny.variables(models.backbone('resnet18', 6, width=4), x, seed=3, train=False)
  out = pretrained.transfer(source, fresh)
  np.testing.assert_array_equal(out['params']['source_fc']['kernel'],
                                source['params']['fc']['kernel'])
  np.testing.assert_array_equal(out['params']['source_fc']['bias'], source['params']['fc']['bias'])
  np.testing.assert_array_equal(out['params']['fc']['kernel'], fresh['params']['fc']['kernel'])
  flat = lambda t: flax.traverse_util.flatten_dict(t, sep='/')
  for path, value in flat(source['params']).items():
    if not path.startswith('fc/'):
      np.testing.assert_array_equal(flat(out['params'])[path], value)
  with pytest.raises(ValueError, match='shape mismatch: params/source_fc/kernel'):
    pretrained.transfer(tiny.variables(models.backbone('resnet18', 9, width=4), x, train=False),
                        fresh)
  config.pretrained = ''
  with pytest.raises(ValueError, match="co_tuning needs the pretrained network's own head"):
    methods.get('co_tuning').build_model(config, 5, None)
