"""DELTA's channel weights (methods/delta.py), measured before its fine-tuning as the
official code (lixingjian/DELTA, channel_eval.py) measures them:

1. a linear probe on the pretrained features (method ``linear_probe``) for
   ``delta.probe_epochs`` epochs: a resumable run of its own in ``<workdir>/attention_probe``;
2. on the first ``delta.attention_images`` training images (the seed's training order
   and augmentation, as the official shuffled training loader), the increase of the
   probe's cross-entropy when one output channel's filter of a tap is zeroed, for every
   channel of every tap (the official code zeroes one filter at a time; here CHUNK
   channels at a time, one vmapped pass whose layers below the tap run once a chunk);
3. per tap, W = softmax(z / 5), z the z-scored increases (methods.delta).

Kept in ``<workdir>/channel_attention.npz``: the weights under each tap's name, the
increases under '<name>:increase'. `prepare` measures it once and points
``config.delta.attention`` at it.
"""
import functools
import os

import flax
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np
import optax

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.methods import delta
from adafilter_jax.train import loop
from adafilter_jax.train import steps as steps_lib

ATTENTION = 'channel_attention.npz'
PROBE_DIR = 'attention_probe'
CHUNK = 16  # channels ablated side by side (memory: CHUNK x the batch above the tap)


def probe_config(config):
  """The linear probe's config: `config`'s data, model and pretrained weights."""
  c = methods.settings(config, 'delta', 'delta')
  probe = config.copy_and_resolve_references()
  probe.method, probe.num_epochs = 'linear_probe', c.probe_epochs
  probe.optim.head_lr, probe.optim.weight_decay = c.probe_lr, c.probe_weight_decay
  probe.optim.decay_epochs = tuple(c.probe_decay_epochs)
  return probe


@functools.partial(jax.jit, static_argnums=(0, 4))
def _increases(model, variables, images, labels, tap):
  """Per channel c of `tap`'s conv: the summed cross-entropy over `images` with the
  filter of c zeroed, minus that of the whole network: [C]."""
  flat = flax.traverse_util.flatten_dict(variables['params'])
  kernel = flat[tap + ('kernel',)]

  def total_ce(kernel):
    params = flax.traverse_util.unflatten_dict({**flat, tap + ('kernel',): kernel})
    logits, _ = model.apply({**variables, 'params': params}, images, train=False)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).sum()

  ablated = lambda c: total_ce(kernel * (1.0 - jax.nn.one_hot(c, kernel.shape[-1])))
  channels = jnp.arange(kernel.shape[-1])
  return jax.lax.map(ablated, channels, batch_size=CHUNK) - total_ce(kernel)


def channel_increases(model, variables, batches) -> dict:
  """{tap name: [C] mean loss increase per image} over `batches` ({'image' normalised,
  'label'}), the taps of methods.delta."""
  sums, count = {}, 0
  for batch in batches:
    for tap in delta.taps(variables['params']):
      name = '/'.join(tap)
      inc = np.asarray(_increases(model, variables, batch['image'], batch['label'], tap))
      sums[name] = sums.get(name, 0.0) + inc.astype(np.float64)
    count += len(batch['label'])
  return {name: s / count for name, s in sums.items()}


def _training_images(config):
  """The first `delta.attention_images` training images, normalised, in batches."""
  left = methods.settings(config, 'delta', 'delta').attention_images
  it = pipeline.make_train_iter(config.data, global_batch_size=config.batch_size,
                                seed=config.seed)
  while left > 0:
    batch = next(it)
    n = min(left, len(batch['label']))
    left -= n
    yield {'image': steps_lib.normalize(batch['image'][:n], config.data),
           'label': batch['label'][:n]}


def measure(config, state) -> dict:
  """The npz's arrays from the probe's final host `state`."""
  info = pipeline.load_dataset_info(config.data)
  model = methods.get('linear_probe').build_model(config, info.num_classes, None)
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  increases = channel_increases(model, variables, _training_images(config))
  out = {name: delta.weights_from_importance(inc) for name, inc in increases.items()}
  out.update({f'{name}:increase': inc.astype(np.float32) for name, inc in increases.items()})
  return out


def prepare(config, workdir: str):
  """`config` with ``delta.attention`` measured: the probe run, then the weights, once."""
  if methods.settings(config, 'delta', 'delta').attention:
    return config  # given ('uniform' or a file)
  path = os.path.join(os.path.abspath(workdir), ATTENTION)
  if not os.path.isfile(path):
    probe = probe_config(config)
    state = loop.train_and_evaluate(probe, os.path.join(workdir, PROBE_DIR))
    table = measure(probe, state)
    if jax.process_index() == 0:
      np.savez(path + '.tmp.npz', **table)
      os.replace(path + '.tmp.npz', path)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices('delta channel attention written')
  config = config.copy_and_resolve_references()
  config.delta.attention = path
  return config
