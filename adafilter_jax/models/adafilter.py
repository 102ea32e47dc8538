"""AdaFilter on this project's ResNets and on a user's own model, both through the
transform (transform.py), from the config's `adafilter` block (configs/base.py documents
every field, the paper's choices and the ones it leaves open): ``adafilter_resnet(arch,
num_classes, config.adafilter, **config.model)``. `gate_def` and `transformed` are the
one place that reads the block's fields.
"""
import functools
from typing import Any, Mapping

import jax

from adafilter_jax.models import archs, layers, lean, transform
from adafilter_jax.models.gates import CNNGate, LSTMGate, RandomGate

ModuleDef = Any
GATES = ('lstm', 'cnn', 'random')
# The plan is recorded on an image of this size (shapes only; a conv's order and width
# do not depend on it, and every arch here takes it).
SAMPLE_SIZE = 64


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
    trunk = functools.partial(archs.backbone, a['gate_arch'], None, width=a['gate_width'],
                              **trunk_backbone)
    return functools.partial(CNNGate, trunk=trunk,
                             init=a['gate_init'], **common)
  if a['gate'] == 'random':
    return functools.partial(RandomGate, p=a['random_p'], **common)
  raise ValueError(f"unknown adafilter.gate {a['gate']!r}; expected one of {GATES}")


def adafilter_resnet(arch: str, num_classes: int, adafilter: Mapping, **model):
  """AdaFilter on a ResNet of the architecture table: the plain network, gated by the
  transform. `adafilter`: the config's `adafilter` block; `model`: the rest of
  `backbone`'s arguments (the config's `model` block). ``remat``: the transform, not the
  network, recomputes the residual blocks, so that the gate's state passes through."""
  # The transform runs every unit (lean or not): the network's own must stay modules.
  network = archs.backbone(arch, num_classes, **{**model, 'remat': False, 'lean_units': False,
                                                  'lean_relus': model.get('lean_units', False)})
  blocks = (layers.unwrap(network.block_cls)[0],) if model.get('remat') else ()
  return transformed(network, adafilter, backbone=model, remat=blocks,
                     lean_units=model.get('lean_units', False))


def transformed(model, adafilter: Mapping, image_size: int = SAMPLE_SIZE,
                plan_file: str = '', backbone: Mapping = None,
                remat=(), lean_units: bool = False) -> transform.Gated:
  """AdaFilter on any model called as this project's are (``(images, train) -> (logits,
  gates)``: resnet.py's, models/own.py's), through the transform, from the config's
  `adafilter` block; its plan read from `plan_file` (JSON, transform.plan_json), or
  recorded on an image of `image_size`; `backbone`: the network's settings the CNN
  gate's trunk shares; `remat`: the block classes recomputed in the backward;
  `lean_units`: config.model.lean_units (transform.Gated.lean)."""
  # .get: runs saved before it existed; a bool: runs saved before the policies.
  recompute_s = lean.recompute_policy(adafilter.get('recompute_s', False))
  if recompute_s == 'all' and not lean_units:
    raise ValueError("adafilter.recompute_s='all' acts in the lean units only: set "
                     "model.lean_units=True as well, or recompute_s='expanding' / 'none'")
  plan = None
  if plan_file:
    with open(plan_file) as f:
      plan = transform.plan_from_json(f.read())
  sample = jax.numpy.zeros((1, image_size, image_size, 3), jax.numpy.float32)
  return transform.gate(model, sample, gate=gate_def(adafilter, backbone or {}),
                        gated_layers=adafilter['gated_layers'], gated_bn=adafilter['gated_bn'],
                        plan=plan, merge_gates=True, remat=remat,
                        bn_stats=adafilter['bn_stats'], eval_impl=adafilter['eval_impl'],
                        lean=lean_units, recompute_s=recompute_s, train=False)


# A run saved before AdaFilter became a transform named a gated unit's F and BN_ft
# ``conv_ft`` and ``bn_ft``; the transform keeps the plain network's ``conv`` and ``bn``
# (S and BN_pre, ``conv_pre`` and ``bn_pre``, are named alike in both).
_OLD = {'conv': 'conv_ft', 'bn': 'bn_ft'}


def _rename_dicts(tree, rename):
  """`tree` (variables, a train state, an optimizer state) with every dict in it, at any
  depth, replaced by ``rename(dict)``."""
  def visit(node):
    if not isinstance(node, Mapping):
      return node
    return rename({k: _rename_dicts(v, rename) for k, v in node.items()})
  return jax.tree.map(visit, tree, is_leaf=lambda n: isinstance(n, Mapping))


def from_gated_resnet(tree):
  """A tree saved with the old names (any pytree: variables, train state) in the
  transform's names."""
  new = {old: now for now, old in _OLD.items()}
  return _rename_dicts(tree, lambda d: {new.get(k, k): v for k, v in d.items()})


def to_gated_resnet(tree):
  """The inverse: the transform's tree in the old names, to read an old run with."""
  def rename(d):
    gated = {k for k in _OLD if k + transform.COPY_SUFFIX in d}
    return {(_OLD[k] if k in gated else k): v for k, v in d.items()}
  return _rename_dicts(tree, rename)
