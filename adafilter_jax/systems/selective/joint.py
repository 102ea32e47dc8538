"""Joint training: one shared ResNet trunk, a target head and a source head.

A batch is B_t target images followed by their B_t source partners; the trunk (and its
BN) sees the mixed batch, then the pooled features split: the first B_t go to the target
head, the rest to the source head, so each head learns only from its own domain and the
trunk from both. Loss = (1 - w) CE_target + w CE_source, w = 0.5 (the paper); without a
source (the baseline) it is CE_target alone. The paper's ~200-image updates come from
`optax.MultiSteps` accumulating `iter_size` batches (Caffe's iter_size); the schedule
counts updates ("iterations"), not epochs.

The steps run on train/parallel.py's data parallelism (pmap or jit, one host or many)
with the main loop's step signature. A batch keeps the target images ('image',
'label') and their source partners ('source_image', 'source_label'; absent without a
source) as separate entries, so that each device gets matching slices of both and
concatenates its own [targets; partners]; under pmap BN statistics, gradients and
metrics are averaged over the devices, so D devices compute what one does.
"""
import dataclasses
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from adafilter_jax import methods, models
from adafilter_jax.weights import pretrained
from adafilter_jax.train import optimizer as optimizer_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import steps as steps_lib

HEADS = ('fc_target', 'fc_source')


class JointNet(nn.Module):
  """(images, num_target) -> (target logits [num_target], source logits [rest])."""
  trunk: nn.Module           # a headless ResNet (num_classes=None)
  num_target_classes: int
  num_source_classes: int

  @nn.compact
  def __call__(self, x, num_target: int, train: bool = False):
    feats, _ = self.trunk(x, train)
    init = nn.initializers.normal(0.01)  # both heads new, N(0, 0.01^2) (the paper's code)
    t = nn.Dense(self.num_target_classes, kernel_init=init, name=HEADS[0])(feats[:num_target])
    s = nn.Dense(self.num_source_classes, kernel_init=init, name=HEADS[1])(feats[num_target:])
    return t.astype(jnp.float32), s.astype(jnp.float32)


def build_model(config, num_target_classes: int, num_source_classes: int,
                bn_axis_name: Optional[str] = None) -> JointNet:
  """`bn_axis_name`: Parallel.bn_axis_name (the pmap axis BN averages over, or None)."""
  trunk = models.backbone(config.model.arch, None, **methods.backbone_kwargs(config, bn_axis_name))
  return JointNet(trunk, num_target_classes, num_source_classes)


def label(path) -> str:
  return 'head' if path[0] in HEADS else 'network'


def init_joint_variables(model: JointNet, image_size: int, seed: int, backbone=None) -> dict:
  """Fresh heads; the trunk from `backbone` ({'params', 'batch_stats'} of a plain ResNet)."""
  dummy = jnp.zeros((2, image_size, image_size, 3), jnp.float32)
  variables = jax.device_get(jax.jit(lambda k: model.init(k, dummy, 1))(jax.random.key(seed)))
  if backbone is not None:
    trunk = pretrained.transfer(backbone, {c: variables[c]['trunk']
                                           for c in ('params', 'batch_stats')})
    for c in ('params', 'batch_stats'):
      variables[c] = {**variables[c], 'trunk': trunk[c]}
  return variables


def make_optimizer(config, params) -> optax.GradientTransformation:
  """SGD with momentum per group, decays at `selective.decay_iterations` updates,
  accumulated over `selective.iter_size` batches."""
  sel = config.selective
  optim = config.optim.copy_and_resolve_references()
  with optim.unlocked():
    optim.decay_epochs = tuple(sel.decay_iterations)  # with steps_per_epoch = 1: updates
  labels = jax.tree_util.tree_map_with_path(
      lambda p, _: label(tuple(str(getattr(k, 'key', k)) for k in p)), params)
  tx = optimizer_lib.make(optim, labels, steps_per_epoch=1)
  return optax.MultiSteps(tx, every_k_schedule=sel.iter_size)


def create_round_state(model, variables, config, tx=None) -> steps_lib.TrainState:
  """A fresh optimizer state; pass the same `tx` every round, or the train step, whose
  state carries it, compiles again."""
  tx = tx or make_optimizer(config, variables['params'])
  return steps_lib.TrainState.create(apply_fn=model.apply, params=variables['params'],
                                     tx=tx, batch_stats=variables['batch_stats'])


def loss_fn(params, batch_stats, apply_fn, images, target_labels, source_labels,
            source_weight: float):
  """(loss, (metrics, new batch_stats)); images = [target; source] (already normalised)."""
  n_t = target_labels.shape[0]
  (lt, ls), new = apply_fn({'params': params, 'batch_stats': batch_stats}, images, n_t,
                           train=True, mutable=['batch_stats'])
  ce_t = optax.softmax_cross_entropy_with_integer_labels(lt, target_labels).mean()
  if source_labels.shape[0]:
    ce_s = optax.softmax_cross_entropy_with_integer_labels(ls, source_labels).mean()
    loss = (1.0 - source_weight) * ce_t + source_weight * ce_s
  else:
    ce_s, loss = jnp.zeros(()), ce_t
  top1 = jnp.mean(jnp.argmax(lt, -1) == target_labels)
  return loss, ({'loss': loss, 'ce_target': ce_t, 'ce_source': ce_s, 'top1': top1},
                new['batch_stats'])


def make_joint_train_step(config, axis_name: Optional[str] = None) -> Callable:
  """(state, batch, key, anchor) -> (state, metrics), Parallel.train_step's signature;
  the key and anchor are unused (no random layers, no regularizer)."""
  w = float(config.selective.source_weight)

  def step(state, batch, key, anchor):
    del key, anchor
    images, source_labels = batch['image'], jnp.zeros(0, jnp.int32)
    if 'source_image' in batch:
      images = jnp.concatenate([images, batch['source_image']])
      source_labels = batch['source_label']
    x = steps_lib.normalize(images, config.data)
    grads, (metrics, stats) = jax.grad(loss_fn, has_aux=True)(
        state.params, state.batch_stats, state.apply_fn, x, batch['label'], source_labels, w)
    if axis_name is not None:
      grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
    return state.apply_gradients(grads=grads, batch_stats=stats), metrics

  return step


def make_target_predict_step(config, axis_name: Optional[str] = None) -> Callable:
  """(state, {'image', 'mask'}, key) -> {'probs': target-head softmax, 'mask'}, BN in
  inference mode (nothing to average over devices: `axis_name` is for symmetry)."""
  del axis_name

  def predict(state: Any, batch, key):
    del key
    x = steps_lib.normalize(batch['image'], config.data)
    lt, _ = state.apply_fn({'params': state.params, 'batch_stats': state.batch_stats},
                           x, x.shape[0], train=False)
    return {'probs': jax.nn.softmax(lt), 'mask': batch['mask']}

  return predict


@dataclasses.dataclass(frozen=True)
class Steps:
  """One optimizer and the compiled steps, shared by every round (a new `tx` per round
  would compile the train step again)."""
  tx: optax.GradientTransformation
  train: Callable     # Parallel.train_step(make_joint_train_step, compiler_options)
  predict: Callable   # Parallel.eval_step(make_target_predict_step)


def make_steps(config, parallel, params) -> Steps:
  axis = parallel.bn_axis_name
  return Steps(make_optimizer(config, params),
               parallel.train_step(make_joint_train_step(config, axis),
                                   parallel_lib.compiler_options(config)),
               parallel.eval_step(make_target_predict_step(config, axis)))
