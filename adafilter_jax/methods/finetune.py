"""Standard fine-tuning: every parameter of the pretrained ResNet trains, new head."""
from adafilter_jax import models
from adafilter_jax.methods.registry import Method, backbone_kwargs, register


def build_model(config, num_classes, bn_axis_name=None):
  return models.resnet(config.model.arch, num_classes, **backbone_kwargs(config, bn_axis_name))


FINETUNE = register(Method(name='finetune', build_model=build_model))
