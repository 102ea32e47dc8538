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

from adafilter_jax import methods


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


def _held_behind_stop_gradient(method, params, trained, config):
  """`params` with the groups a stage holds behind stop_gradient: no gradient reaches
  them, and XLA drops the backward pass below the lowest trained layer."""
  labels = method.labels(params, config)
  return jax.tree.map(lambda p, label: p if label in trained else jax.lax.stop_gradient(p),
                      params, labels)


def sown(intermediates) -> Dict[str, jax.Array]:
  """A forward pass's sown intermediates, {'a/b': the last value sown there}."""
  flat = flax.traverse_util.flatten_dict(dict(intermediates or {}), sep='/')
  return {name: values[-1] for name, values in flat.items()}


def _tapped(intermediates, taps) -> dict:
  """'features' and each tap's output, out of a forward pass's 'intermediates'."""
  out = {'features': intermediates['features'][0]} if 'features' in intermediates else {}
  for path in taps:
    node = intermediates
    for name in path:
      node = node[name]
    out['/'.join(path)] = node['__call__'][0]
  return out


def _taps(loss, params) -> tuple:
  return tuple(map(tuple, loss.taps(params))) if loss.taps else ()


def _forward(apply_fn, variables, images, train, key, taps, capture):
  """(logits, gates, new batch_stats, intermediates or None): one forward pass that also
  returns, when `capture`, the intermediates a method's loss reads."""
  mutable = ['batch_stats', 'intermediates'] if capture else ['batch_stats']
  (logits, gates), new_vars = apply_fn(
      variables, images, train=train, rngs={'gate': key}, mutable=mutable,
      capture_intermediates=(lambda mdl, name: name == '__call__' and mdl.path in taps)
      if taps else False)
  return logits, gates, new_vars['batch_stats'], new_vars.get('intermediates')


def make_loss_fn(method, config, axis_name: Optional[str], stage=None,
                 constants: Optional[dict] = None) -> Callable:
  """(params, state, batch, key, anchor) -> (loss, (metrics, batch_stats)): one device's
  loss, the cross-entropy plus the method's `Loss` (methods.LossContext: what it reads);
  `anchor` is the pretrained variables (None when the loss reads none). `stage`
  (methods.Stage, default: every group trained) holds the groups it does not train and
  picks the BN mode; `constants` are the method's `prepare` step's."""
  stage = stage or methods.Stage()
  extra = method.loss
  capture = extra is not None and (extra.intermediates or extra.taps is not None)

  def loss_fn(params, state, batch, key, anchor):
    images = normalize(batch['image'], config.data)
    params = _held_behind_stop_gradient(method, params, stage.trained, config)
    taps = _taps(extra, params) if capture else ()
    logits, gates, batch_stats, intermediates = _forward(
        state.apply_fn, {'params': params, 'batch_stats': state.batch_stats},
        images, stage.bn_train, key, taps, capture)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']).mean()
    loss = ce
    if extra is not None:
      theirs = None
      if capture and extra.pretrained:  # the pretrained network, same batch, no gradient
        *_, theirs = _forward(state.apply_fn, jax.lax.stop_gradient(anchor), images, False,
                              key, taps, capture)
      loss = loss + extra.fn(methods.LossContext(
          params=params, pretrained=None if anchor is None else anchor['params'],
          tapped=_tapped(intermediates, taps) if capture else {},
          pretrained_tapped=None if theirs is None else _tapped(theirs, taps),
          sown=sown(intermediates), gates=gates, constants=constants or {}, batch=batch,
          config=config, axis_name=axis_name))
    top1 = jnp.mean(jnp.argmax(logits, -1) == batch['label'])
    return loss, ({'loss': loss, 'ce': ce, 'top1': top1}, batch_stats)

  return loss_fn


def make_train_step(method, config, axis_name: Optional[str], stage=None,
                    constants: Optional[dict] = None) -> Callable:
  """(state, batch, key, anchor) -> (state, metrics), `make_loss_fn`'s loss; under pmap
  gradients and metrics are averaged over the devices."""
  loss_fn = make_loss_fn(method, config, axis_name, stage, constants)

  grads_fn = accumulated(jax.grad(loss_fn, has_aux=True), config.grad_accum_steps)

  def train_step(state, batch, key, anchor):
    key = _device_key(jax.random.fold_in(key, state.step), axis_name)
    grads, (metrics, batch_stats) = grads_fn(state.params, state, batch, key, anchor)
    if axis_name is not None:
      grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
    return state.apply_gradients(grads=grads, batch_stats=batch_stats), metrics

  return train_step


def accumulated(grads_fn: Callable, steps: int) -> Callable:
  """`grads_fn` (params, state, batch, key, anchor) -> (grads, (metrics, batch_stats)) over
  `steps` micro-batches of the batch, one after the other (config.grad_accum_steps): the
  mean of their gradients and metrics, so that only one micro-batch's activations are
  alive at a time. Equal micro-batches make the mean gradient the whole batch's for a
  loss that is a mean over examples; BN is the exception: each micro-batch is normalised
  with its own statistics, and the running statistics are updated once per micro-batch,
  in order (as gradient accumulation in PyTorch does). Micro-batch i takes examples
  i, i + steps, ..., so that under jit and pmap each device holds its share of each.
  """
  if steps == 1:
    return grads_fn

  def split(x):  # [B, ...] -> [steps, B / steps, ...], strided
    return x.reshape((x.shape[0] // steps, steps) + x.shape[1:]).swapaxes(0, 1)

  def fn(params, state, batch, key, anchor):
    def micro(carry, inputs):
      grads, batch_stats = carry
      i, micro_batch = inputs
      g, (metrics, batch_stats) = grads_fn(params, state.replace(batch_stats=batch_stats),
                                           micro_batch, jax.random.fold_in(key, i), anchor)
      return (jax.tree.map(jnp.add, grads, g), batch_stats), metrics

    zeros = jax.tree.map(jnp.zeros_like, params)
    (grads, batch_stats), metrics = jax.lax.scan(
        micro, (zeros, state.batch_stats), (jnp.arange(steps), jax.tree.map(split, batch)))
    mean = lambda tree: jax.tree.map(lambda x: x.mean(0), tree)
    return jax.tree.map(lambda g: g / steps, grads), (mean(metrics), batch_stats)

  return fn


def make_eval_step(config, axis_name: Optional[str]) -> Callable:
  """(state, batch, key) -> per-example outputs; with a gate also [B, L] per-layer and
  [B] overall fractions of fine-tuned filters (layers in forward order, `gate_layers`),
  and every filter's decision, bit-packed: [B, ceil(ΣC/8)] uint8 (train/policy.py
  unpacks it with the layers' `gate_widths`), an eighth of a byte per image and filter."""

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
      every = jnp.concatenate(list(gates.values()), -1)
      out['fraction'] = every.mean(-1)
      out['decisions'] = jnp.packbits(every > 0.5, axis=-1)
    return out

  return eval_step


def make_outputs_step(model, config, names, axis_name: Optional[str]) -> Callable:
  """(variables, batch, key) -> the sown intermediates `names` in eval mode, with the
  batch's labels and mask: what a method's `prepare` step reads over the training images."""

  def outputs_step(variables, batch, key):
    _, new_vars = model.apply(variables, normalize(batch['image'], config.data), train=False,
                              rngs={'gate': _device_key(key, axis_name)},
                              mutable=['intermediates'])
    found = sown(new_vars['intermediates'])
    missing = sorted(set(names) - set(found))
    if missing:
      raise ValueError(f'config.method={config.method!r} reads intermediates {missing} '
                       f'that its model does not sow; it sows {sorted(found)}')
    return {'outputs': {n: found[n] for n in names}, 'label': batch['label'],
            'mask': batch['mask']}

  return outputs_step


def gate_widths(model: nn.Module, variables, image_shape) -> Dict[str, int]:
  """Gated layer (or block) -> its number of decisions per image (filters; 1 for a
  SpotTune block), in forward order: the key order of `gates` seen while tracing."""
  widths = {}

  def trace(v, x):
    _, gates = model.apply(v, x, train=False, rngs={'gate': jax.random.key(0)})
    widths.update((k, g.shape[-1]) for k, g in gates.items())  # at trace time: static
    return 0

  jax.eval_shape(trace, variables, jax.ShapeDtypeStruct(image_shape, jnp.float32))
  return widths


def gate_layers(model: nn.Module, variables, image_shape) -> List[str]:
  """Gated layer names in forward order."""
  return list(gate_widths(model, variables, image_shape))
