"""Standard fine-tuning: every parameter of the pretrained ResNet trains, new head."""
from adafilter_jax import models
from adafilter_jax.models import own
from adafilter_jax.methods.registry import Method, backbone_kwargs, register, settings


def build_model(config, num_classes, bn_axis_name=None):
  if own.named(config):  # a user's own model (docs/own_model.md)
    return own.build(config.own_model, num_classes)
  return models.backbone(config.model.arch, num_classes, **backbone_kwargs(config, bn_axis_name))


def build_with(block: str):
  """This `build_model` for a method that reads ``config.<block>`` (its recipe writes
  it, named as the method): a config without the block fails here, before anything
  trains."""

  def build(config, num_classes, bn_axis_name=None):
    settings(config, block, config.method)
    return build_model(config, num_classes, bn_axis_name)

  return build


FINETUNE = register(Method(name='finetune', build_model=build_model))
