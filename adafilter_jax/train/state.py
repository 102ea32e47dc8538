"""The train state: the model's variables (fresh, or from converted pretrained weights)
and the per-group optimizer; the loop, the benchmark and the tests all build it here."""
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods
from adafilter_jax.models import own
from adafilter_jax.weights import pretrained as pretrained_lib
from adafilter_jax.weights import user as user_lib
from adafilter_jax.train import optimizer as optimizer_lib
from adafilter_jax.train import steps as steps_lib


def load_pretrained(config) -> Optional[dict]:
  """The weights to start from: ``{'backbone': ..., 'parts': {subtree: ...}}``; the
  backbone's is None when `config.pretrained` is '' (train from scratch), the parts are
  those the method names (`Method.pretrained_parts`: the CNN gate's trunk). A user's own
  model's (config.own_model.weights): ``{'own': its variables}``."""
  if own.named(config):
    return {'own': user_lib.read(config.own_model.weights)} if config.own_model.weights else None
  method = methods.get(config.method)
  parts = method.pretrained_parts(config) if method.pretrained_parts else {}
  if not config.pretrained and not parts:
    return None
  backbone = (pretrained_lib.load(config.pretrained, config.model.arch)
              if config.pretrained else None)
  return {'backbone': backbone,
          'parts': {prefix: pretrained_lib.load(path) for prefix, path in parts.items()}}


def init_variables(model, config, image_size: int, pretrained_vars) -> dict:
  # An RngBitGenerator key: XLA compiles the init of a gated ResNet-50 several times
  # faster than with threefry, and init values need no cross-backend reproducibility.
  key = jax.random.key(config.seed, dtype='rbg')
  dummy = jnp.zeros((1, image_size, image_size, 3), jnp.float32)
  variables = jax.jit(lambda k: model.init({'params': k, 'gate': k}, dummy, train=False))(key)
  variables = jax.device_get(variables)
  if pretrained_vars is not None and 'own' in pretrained_vars:  # docs/own_model.md
    head = config.own_model.head
    variables = user_lib.into(variables, pretrained_vars['own'], getattr(model, 'plan', ()),
                              fresh=[head] if head else [])
  elif pretrained_vars is not None:
    variables = pretrained_lib.transfer(pretrained_vars['backbone'] or {}, variables,
                                        parts=pretrained_vars['parts'])
  return variables


def stage_tx(method, config, stage, params, steps_per_epoch):
  """The optimizer of one of the method's stages (methods.Stage): config.optim with the
  stage's overrides, its rate 0 on the groups it holds."""
  optim = config.optim.copy_and_resolve_references()
  optim.update(dict(stage.optim))  # a field config.optim lacks is an error
  held = set(methods.GROUPS) - set(stage.trained)
  labels = method.labels(params, config)
  tx = optimizer_lib.make(optim, labels, steps_per_epoch,
                          weight_decay=method.weight_decay, held=held)
  if method.wrap_optimizer is not None:
    tx = method.wrap_optimizer(tx, labels, config, steps_per_epoch)
  return tx


def create_state(method, model, variables, config, steps_per_epoch):
  """The state at the start of training, with the first stage's optimizer."""
  (_, stage), *_ = method.schedule(config)
  tx = stage_tx(method, config, stage, variables['params'], steps_per_epoch)
  return steps_lib.TrainState.create(apply_fn=model.apply, params=variables['params'],
                                     tx=tx, batch_stats=variables['batch_stats'])


def enter_stage(state, method, config, stage, steps_per_epoch, fresh: bool):
  """A host `state` switched to `stage`'s optimizer: a fresh one (zero momentum, its
  schedule from the stage's first step) at the stage's first step, else the restored
  one of a run resumed inside the stage."""
  tx = stage_tx(method, config, stage, state.params, steps_per_epoch)
  opt_state = tx.init(state.params) if fresh else state.opt_state
  if jax.tree.structure(opt_state) != jax.tree.structure(state.opt_state):
    raise ValueError(f'{method.name}: the optimizer of stage {stage} has another state '
                     'structure than the first stage\'s (checkpoints need one)')
  return state.replace(tx=tx, opt_state=opt_state)


def state_template(method, model, config, steps_per_epoch):
  """Zeros shaped as the train state, built without running the model: what a checkpoint
  is restored into (the optimizer's state is part of it, so its shape must match)."""
  abstract = jax.eval_shape(lambda: create_state(
      method, model, abstract_variables(model, config.data.image_size), config,
      steps_per_epoch))
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), abstract)


def count_params(method, params, config=None) -> dict:
  counts = {g: 0 for g in methods.GROUPS}
  for label, leaf in zip(jax.tree.leaves(method.labels(params, config)),
                         jax.tree.leaves(params)):
    counts[label] += int(np.size(leaf))
  return counts


def abstract_variables(model, image_size):
  dummy = jnp.zeros((1, image_size, image_size, 3), jnp.float32)
  key = jax.random.key(0)
  return model.init({'params': key, 'gate': key}, dummy, train=False)
