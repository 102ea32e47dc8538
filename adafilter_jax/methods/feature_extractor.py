"""Feature extractor (SpotTune Tables 2 and 3): the pretrained network frozen, only the
new head trains (on ResNet-26 the head is BN -> ReLU -> pool -> fc)."""
from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods import frozen_blocks
from adafilter_jax.methods import schedules


def build_model(config, num_classes, bn_axis_name=None):
  return frozen_blocks.build(config, num_classes, bn_axis_name, tuned=())


def recipe(c):
  """Feature extractor (SpotTune Tables 2 and 3): the pretrained network frozen, only the
  new head trains; SpotTune's schedule (methods/schedules.py).

    python main.py --config configs/transfer.py:dataset=cubs,method=feature_extractor
    python main.py --config configs/decathlon.py:domain=aircraft,method=feature_extractor
  """
  return schedules.spottune(c)


FEATURE_EXTRACTOR = register(Method(name='feature_extractor', build_model=build_model,
                                    label=frozen_blocks.label, recipe=recipe))
