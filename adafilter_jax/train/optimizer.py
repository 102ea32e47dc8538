"""The paper's optimizer: SGD with momentum (Nesterov's with `optim.nesterov`, TLlib's
recipe), one learning rate per param group.

Groups come from the method (`Method.labels`): 'network' and 'head' at the network's
rate, 'gate' at 10x, 'frozen' never updated. Each rate follows the same step-wise
schedule (x`decay_factor` at each epoch in `decay_epochs`). Weight decay is torch-style
L2 added to the gradient before momentum, on conv/dense kernels of the network and head
only (docs/method.md); a method with its own regularizer (L2-SP) gets none.
"""
from typing import Dict

import jax
import optax

from adafilter_jax.methods import GROUPS

DECAYED_GROUPS = ('network', 'head')


def schedule(base_lr: float, steps_per_epoch: int, decay_epochs, factor: float):
  boundaries = {int(e) * steps_per_epoch: factor for e in decay_epochs}
  return optax.piecewise_constant_schedule(base_lr, boundaries)


def group_lrs(optim) -> Dict[str, float]:
  head_lr = optim.lr if optim.head_lr is None else optim.head_lr
  return {'network': optim.lr, 'head': head_lr, 'gate': optim.gate_lr}


def _sgd(lr_schedule, momentum: float, nesterov: bool = False):
  # inject_hyperparams keeps the current rate in the optimizer state, where the loop
  # logs it and the tests read the schedule back.
  return optax.inject_hyperparams(optax.sgd, static_args=('nesterov',))(
      learning_rate=lr_schedule, momentum=momentum, nesterov=nesterov)


def decay_mask(labels):
  """True on conv/dense kernels of the network and head (not biases, not BN)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, label: label in DECAYED_GROUPS and getattr(path[-1], 'key', None) == 'kernel',
      labels)


def make(optim, labels, steps_per_epoch: int, weight_decay: bool = True, held=()):
  """The optax transformation for `params` whose groups are `labels` (config.optim).

  The `held` groups (a stage's, methods.Stage) get rate 0 rather than `set_to_zero`, so
  that every stage's optimizer state has the same structure (one checkpoint template).
  """
  groups = {
      name: _sgd(schedule(0.0 if name in held else lr, steps_per_epoch, optim.decay_epochs,
                          optim.decay_factor), optim.momentum, optim.get('nesterov', False))
      for name, lr in group_lrs(optim).items()}
  groups['frozen'] = optax.set_to_zero()
  assert set(groups) == set(GROUPS), 'every group of methods.GROUPS needs a transform'
  tx = optax.partition(groups, labels)
  if weight_decay and optim.weight_decay:
    tx = optax.chain(optax.add_decayed_weights(optim.weight_decay, decay_mask(labels)),
                     tx)
  return tx


def current_lrs(opt_state) -> Dict[str, float]:
  """The rate each group used at its latest update, read back from the state."""
  found = {}

  def visit(node):
    if isinstance(node, optax.PartitionState):
      for group, inner in node.inner_states.items():
        inner = getattr(inner, 'inner_state', inner)  # partition wraps each in masked
        if hasattr(inner, 'hyperparams'):
          found[group] = float(jax.device_get(inner.hyperparams['learning_rate']))
    elif isinstance(node, (tuple, list)):
      for child in node:
        visit(child)

  visit(opt_state)
  return found
