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


def recipe(c):
  """AdaFilter (Table 2): the paper's recipe, configs/base.py unchanged.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=adafilter
  """
  return c


def standard_bn(c):
  """Table 3 ablation: one standard BN after the mixed output (Eq. 6) instead of gated BN.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=adafilter_standard_bn
  """
  c.adafilter.gated_bn = False
  return c


def cnn_gate(c):
  """Table 4 ablation: a CNN gate (ResNet-18 on the image, one FC head per gated layer,
  sigmoid, the same STE) instead of the recurrent gate. Its trunk starts from ImageNet
  from `adafilter.gate_pretrained`: torchvision's ResNet-18 as timm mirrors it on the Hugging
  Face Hub (converted on first use, weights/README.md), or a directory of converted
  weights; '' trains it from scratch.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=adafilter_cnn_gate
  """
  c.adafilter.gate = 'cnn'
  c.adafilter.gate_arch, c.adafilter.gate_width = 'resnet18', 64
  c.adafilter.gate_pretrained = 'hf-hub:timm/resnet18.tv_in1k'
  return c


ADAFILTER = register(Method(name='adafilter', build_model=build_model, label=label,
                            pretrained_parts=pretrained_parts, prepare=save_plan,
                            recipe=recipe, recipes={'adafilter_standard_bn': standard_bn,
                                                    'adafilter_cnn_gate': cnn_gate}))
