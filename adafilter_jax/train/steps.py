"""The jittable train and eval steps, written once for every parallel strategy.

Under pmap `axis_name` is the device axis: gradients and metrics are averaged over it
and BN reads global-batch statistics through the model's `bn_axis_name`, so a step on
D devices computes what one device computes on the same global batch. Under jit the
batch is one sharded array and XLA inserts the same reductions (`axis_name=None`).
"""
from typing import Any, Callable, Dict, List, Optional

import flax
import flax.linen as nn
from flax.training import train_state
import jax
import jax.numpy as jnp
import optax


class TrainState(train_state.TrainState):
  batch_stats: Any


def normalize(images, data_config):
  """uint8 [B,H,W,3] batches -> (x/255 - mean)/std in float32, on the device.

  The pipeline ships uint8: a quarter of float32's bytes between worker processes and
  to the accelerator, and no per-image float pass on the host CPU, usually the
  bottleneck of fine-tuning input pipelines.
  """
  mean = jnp.asarray(data_config.mean, jnp.float32) * 255.0
  inv_std = 1.0 / (jnp.asarray(data_config.std, jnp.float32) * 255.0)
  return (images.astype(jnp.float32) - mean) * inv_std


def _device_key(key, axis_name):
  # The random-policy gate samples in train and eval: each device needs its own stream.
  return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))


def sown(variables) -> Dict[str, jax.Array]:
  """The model's sown intermediates, {'a/b': the last value sown there}."""
  flat = flax.traverse_util.flatten_dict(dict(variables.get('intermediates', {})), sep='/')
  return {name: values[-1] for name, values in flat.items()}


def make_train_step(method, config, axis_name: Optional[str],
                    constants: Optional[dict] = None) -> Callable:
  """(state, batch, key, anchor) -> (state, metrics); `anchor` feeds the method's
  regularizer (the pretrained params, for L2-SP) and is None when it has none;
  `constants` (the method's, `Method.constants`) feed its `batch_loss`."""
  collections = ['batch_stats'] + (['intermediates'] if method.batch_loss else [])

  def loss_fn(params, state, batch, key, anchor):
    (logits, gates), new_vars = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats},
        normalize(batch['image'], config.data), train=True,
        rngs={'gate': key}, mutable=collections)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']).mean()
    loss = ce
    if method.regularizer is not None:
      loss = loss + method.regularizer(params, anchor, config)
    if method.aux_loss is not None:
      loss = loss + method.aux_loss(gates, config, axis_name)
    if method.batch_loss is not None:
      loss = loss + method.batch_loss(sown(new_vars), batch, constants or {}, config)
    top1 = jnp.mean(jnp.argmax(logits, -1) == batch['label'])
    return loss, ({'loss': loss, 'ce': ce, 'top1': top1}, new_vars['batch_stats'])

  def train_step(state, batch, key, anchor):
    key = _device_key(jax.random.fold_in(key, state.step), axis_name)
    grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(
        state.params, state, batch, key, anchor)
    if axis_name is not None:
      grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
    return state.apply_gradients(grads=grads, batch_stats=batch_stats), metrics

  return train_step


def make_eval_step(config, axis_name: Optional[str]) -> Callable:
  """(state, batch, key) -> per-example outputs; with a gate also [B, L] per-layer and
  [B] overall fractions of fine-tuned filters (layers in forward order, `gate_layers`)."""

  def eval_step(state, batch, key):
    logits, gates = state.apply_fn({'params': state.params, 'batch_stats': state.batch_stats},
                                   normalize(batch['image'], config.data), train=False,
                                   rngs={'gate': _device_key(key, axis_name)})
    out = {'pred': jnp.argmax(logits, -1).astype(jnp.int32), 'label': batch['label'],
           'mask': batch['mask'], 'index': batch['index']}
    if gates:
      # Stacked here, inside the trace, where `gates` is still in forward order (a
      # returned dict would come back with its keys sorted).
      out['layer_fraction'] = jnp.stack([g.mean(-1) for g in gates.values()], -1)
      out['fraction'] = jnp.concatenate(list(gates.values()), -1).mean(-1)
    return out

  return eval_step


def make_outputs_step(model, config, names, axis_name: Optional[str]) -> Callable:
  """(variables, batch, key) -> the sown intermediates `names` in eval mode, with the
  batch's labels and mask: what `Method.constants` reads over the training images."""

  def outputs_step(variables, batch, key):
    _, new_vars = model.apply(variables, normalize(batch['image'], config.data), train=False,
                              rngs={'gate': _device_key(key, axis_name)},
                              mutable=['intermediates'])
    found = sown(new_vars)
    missing = sorted(set(names) - set(found))
    if missing:
      raise ValueError(f'config.method={config.method!r} reads intermediates {missing} '
                       f'that its model does not sow; it sows {sorted(found)}')
    return {'outputs': {n: found[n] for n in names}, 'label': batch['label'],
            'mask': batch['mask']}

  return outputs_step


def gate_layers(model: nn.Module, variables, image_shape) -> List[str]:
  """Gated layer names in forward order: the key order of `gates` seen while tracing."""
  names = []

  def trace(v, x):
    _, gates = model.apply(v, x, train=False, rngs={'gate': jax.random.key(0)})
    names.extend(gates)  # runs once, at trace time; the order is static
    return 0

  jax.eval_shape(trace, variables, jax.ShapeDtypeStruct(image_shape, jnp.float32))
  return names
