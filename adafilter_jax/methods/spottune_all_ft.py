"""SpotTune trained as usual, tested with every image routed through all fine-tuned
blocks (SpotTune Table 2's baseline): the policy net is used in training only.
Settings: ``config.spottune`` (tau, policy_width), as for ``spottune``."""
from adafilter_jax import models
from adafilter_jax.methods.registry import Method, backbone_kwargs, register, settings
from adafilter_jax.methods import spottune as spottune_method


def build_model(config, num_classes, bn_axis_name=None):
  c = settings(config, 'spottune', config.method)
  return models.spottune_backbone(config.model.arch, num_classes, policy_width=c.policy_width,
                                  tau=c.tau, all_finetuned=True,
                                  **backbone_kwargs(config, bn_axis_name))


def recipe(c):
  """SpotTune trained with its recipe, every test image routed through all fine-tuned
  blocks (SpotTune Table 2's baseline: the policy is used in training only).

    python main.py --config configs/transfer.py:dataset=cubs,method=spottune_all_ft
  """
  return spottune_method.recipe(c)


SPOTTUNE_ALL_FT = register(Method(name='spottune_all_ft', build_model=build_model,
                                  label=spottune_method.label,
                                  recipe=recipe))
