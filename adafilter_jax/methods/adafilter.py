"""AdaFilter: gated fine-tuned/frozen filter copies with an LSTM gate (the paper).

The model is built from the config's `model` and `adafilter` blocks as they are. The
CNN gate's ResNet trunk (Table 4) is a pretrained network: it trains as the network
does (the network's rate, weight decay), its per-layer heads as the gate does (the
gate's rate); docs/method.md says why.
"""
import jax

from adafilter_jax import models
from adafilter_jax.models import transform
from adafilter_jax.methods.registry import Method, backbone_kwargs, default_label, register

CNN_GATE_TRUNK = ('gate', 'trunk')


def build_model(config, num_classes, bn_axis_name=None):
  return models.adafilter_resnet(config.model.arch, num_classes, config.adafilter,
                                 **backbone_kwargs(config, bn_axis_name))


def label(path):
  if path[:2] == CNN_GATE_TRUNK:
    return 'network'
  return default_label(path)


def own_model_labels(params, plan: transform.Plan, head=()):
  """The optimizer groups of a user's own model in AdaFilter's form (models/transform.py):
  its frozen copies S 'frozen', the `head` subtrees (module paths) 'head', the rest as
  `label` says (the gate 'gate', its CNN trunk and the user's network 'network')."""
  heads = [tuple(h.split('/')) for h in head]

  def group(path, _):
    keys = tuple(p.key for p in path)
    if transform.is_frozen_copy(keys, plan):
      return 'frozen'
    if any(keys[:len(h)] == h for h in heads):
      return 'head'
    return label(keys)

  return jax.tree_util.tree_map_with_path(group, params)


def pretrained_parts(config):
  """The CNN gate's trunk starts from `adafilter.gate_pretrained` when given."""
  a = config.adafilter
  if a.gate == 'cnn' and a.gate_pretrained:
    return {'/'.join(CNN_GATE_TRUNK): a.gate_pretrained}
  return {}


ADAFILTER = register(Method(name='adafilter', build_model=build_model, label=label,
                            pretrained_parts=pretrained_parts))
