"""AdaFilter: gated fine-tuned/frozen filter copies with an LSTM gate (the paper).

The model is built from the config's `model` and `adafilter` blocks as they are. The
CNN gate's ResNet trunk (Table 4) is a pretrained network: it trains as the network
does (the network's rate, weight decay), its per-layer heads as the gate does (the
gate's rate); docs/method.md says why.
"""
import os

import jax

from adafilter_jax import models
from adafilter_jax.models import adafilter as adafilter_models
from adafilter_jax.models import own
from adafilter_jax.models import transform
from adafilter_jax.methods.registry import Method, backbone_kwargs, default_label, register

CNN_GATE_TRUNK = ('gate', 'trunk')


def build_model(config, num_classes, bn_axis_name=None):
  if own.named(config):  # a user's own model (docs/own_model.md), through the transform
    return adafilter_models.transformed(own.build(config.own_model, num_classes),
                                        config.adafilter, config.data.image_size,
                                        config.own_model.get('plan', ''),
                                        lean_units=config.model.get('lean_units', False))
  return models.adafilter_resnet(config.model.arch, num_classes, config.adafilter,
                                 **backbone_kwargs(config, bn_axis_name))


def label(path):
  if path[:2] == CNN_GATE_TRUNK:
    return 'network'
  return default_label(path)


def pretrained_parts(config):
  """The CNN gate's trunk starts from `adafilter.gate_pretrained` when given."""
  a = config.adafilter
  if a.gate == 'cnn' and a.gate_pretrained:
    return {'/'.join(CNN_GATE_TRUNK): a.gate_pretrained}
  return {}


PLAN = 'adafilter_plan.json'  # what config.own_model.plan may name


def save_plan(prep):
  """The plan of a user's own model (models/transform.py: its convs, their norms, which
  are gated), as JSON in the workdir."""
  if getattr(prep.model, 'plan', None) is not None and jax.process_index() == 0:
    with open(os.path.join(prep.workdir, PLAN), 'w') as f:
      f.write(transform.plan_json(prep.model.plan))
  return {}


ADAFILTER = register(Method(name='adafilter', build_model=build_model, label=label,
                            pretrained_parts=pretrained_parts, prepare=save_plan))
