"""Feature extractor (SpotTune Tables 2 and 3): the pretrained network frozen, only the
new head trains (on ResNet-26 the head is BN -> ReLU -> pool -> fc)."""
from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods import frozen_blocks


def build_model(config, num_classes, bn_axis_name=None):
  return frozen_blocks.build(config, num_classes, bn_axis_name, tuned=())


FEATURE_EXTRACTOR = register(Method(name='feature_extractor', build_model=build_model,
                                    label=frozen_blocks.label))
