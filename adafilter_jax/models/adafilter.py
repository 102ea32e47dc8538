"""AdaFilter's ResNet: the torchvision ResNet with gated units and one shared gate.

Built from the config's `adafilter` block (configs/base.py documents every field, the
paper's choices and the ones it leaves open): ``adafilter_resnet(arch, num_classes,
config.adafilter, **backbone)``. `unit_def` and `gate_def` are the one place that reads
the block's fields.
"""
import functools
from typing import Any, Mapping

import flax
import jax

from adafilter_jax.models import gated, gated_fast, transform
from adafilter_jax.models.gates import CNNGate, LSTMGate, RandomGate
from adafilter_jax.models.archs import resnet
from adafilter_jax.models.resnet import ResNet

ModuleDef = Any
GATES = ('lstm', 'cnn', 'random')


class GatedResNet(ResNet):
  """A `ResNet` whose units consult one shared gate, built once as ``gate`` and stepped
  through every gated layer in forward order by plain Python calls."""
  gate: ModuleDef = None  # a gate module definition (gates.py)

  def start(self, images, train: bool):
    unit, _ = super().start(images, train)
    gate = self.gate(name='gate')
    # A pytree partial, not functools': flax finds the shared gate inside it when a block
    # is lifted by `nn.remat` (config.model.remat), and binds it inside the transform.
    return jax.tree_util.Partial(unit, gate=gate), gate.init_state(images, train)


def unit_def(adafilter: Mapping) -> ModuleDef:
  """The gated unit: its BN form and, for test time, its speed variant (gated_fast.py)."""
  if adafilter['eval_impl'] not in gated_fast.EVAL_IMPLS:
    raise ValueError(f"unknown adafilter.eval_impl {adafilter['eval_impl']!r}; expected one "
                     f'of {sorted(gated_fast.EVAL_IMPLS)}')
  if adafilter['bn_stats'] not in gated.BN_STATS:
    raise ValueError(f"unknown adafilter.bn_stats {adafilter['bn_stats']!r}; expected one "
                     f'of {gated.BN_STATS}')
  return functools.partial(gated_fast.EVAL_IMPLS[adafilter['eval_impl']],
                           gated_bn=adafilter['gated_bn'], bn_stats=adafilter['bn_stats'])


def gate_def(adafilter: Mapping, backbone: Mapping) -> ModuleDef:
  """The gate; a CNN gate's trunk shares the backbone's BN axis, dtype and convs."""
  a = adafilter
  common = dict(gated_layers=a['gated_layers'], through_sigmoid=a['ste_through_sigmoid'])
  if a['gate'] == 'lstm':
    return functools.partial(LSTMGate, embed_dim=a['embed_dim'], hidden_dim=a['hidden_dim'],
                             init=a['gate_init'], # .get: runs saved before these levers existed
                             input_norm=a.get('gate_input_norm', 'none'),
                             head_bias=a.get('gate_head_bias'),
                             bn_axis_name=backbone.get('bn_axis_name'), **common)
  if a['gate'] == 'cnn':
    trunk_backbone = {k: v for k, v in backbone.items() if k not in ('width', 'head_init')}
    trunk = functools.partial(resnet, a['gate_arch'], None, width=a['gate_width'],
                              **trunk_backbone)
    return functools.partial(CNNGate, trunk=trunk,
                             init=a['gate_init'], **common)
  if a['gate'] == 'random':
    return functools.partial(RandomGate, p=a['random_p'], **common)
  raise ValueError(f"unknown adafilter.gate {a['gate']!r}; expected one of {GATES}")


def adafilter_resnet(arch: str, num_classes: int, adafilter: Mapping, **backbone) -> ResNet:
  """AdaFilter on a torchvision ResNet. `adafilter`: the config's `adafilter` block;
  `backbone`: the rest of `resnet`'s arguments (the config's `model` block)."""
  return resnet(arch, num_classes, model_cls=GatedResNet, unit=unit_def(adafilter),
                gate=gate_def(adafilter, backbone), **backbone)


def transformed(model, adafilter: Mapping, image_size: int,
                plan_file: str = '') -> transform.Gated:
  """AdaFilter on any model called as this project's are (``(images, train) -> (logits,
  gates)``: models/own.py's), through the transform, from the config's `adafilter` block;
  its plan read from `plan_file` (JSON, transform.plan_json), or recorded on an image of
  `image_size`."""
  plan = None
  if plan_file:
    with open(plan_file) as f:
      plan = transform.plan_from_json(f.read())
  for key, only in (('bn_stats', 'batch'), ('eval_impl', 'two_branch')):
    if adafilter[key] != only:
      raise ValueError(f'adafilter.{key}={adafilter[key]!r}: a user\'s own model takes only '
                       f'{only!r} (the other forms know only this project\'s ResNet)')
  sample = jax.numpy.zeros((1, image_size, image_size, 3), jax.numpy.float32)
  return transform.gate(model, sample, gate=gate_def(adafilter, {}),
                        gated_layers=adafilter['gated_layers'], gated_bn=adafilter['gated_bn'],
                        plan=plan, merge_gates=True, train=False)


# The gated ResNet's own names of F and BN_ft -> the plain ResNet's, where the transform
# (transform.py) keeps them: S and BN_pre (conv_pre, bn_pre) are named alike in both.
_F_NAMES = {'conv_ft': 'conv', 'bn_ft': 'bn'}


def from_gated_resnet(variables):
  """`GatedResNet` variables as the transform of the plain ResNet names them."""
  return {col: flax.traverse_util.unflatten_dict({
      tuple(_F_NAMES.get(p, p) for p in key): value
      for key, value in flax.traverse_util.flatten_dict(tree).items()})
      for col, tree in variables.items()}
