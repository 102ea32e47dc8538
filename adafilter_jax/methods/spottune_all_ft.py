"""SpotTune trained as usual, tested with every image routed through all fine-tuned
blocks (SpotTune Table 2's baseline): the policy net is used in training only.
Settings: ``config.spottune`` (tau, policy_width), as for ``spottune``."""
import functools

from adafilter_jax.methods.registry import Method, backbone_kwargs, register, settings
from adafilter_jax.methods import spottune as spottune_method
from adafilter_jax.models import spottune as spottune_lib
from adafilter_jax.models import spottune26


def build_model(config, num_classes, bn_axis_name=None):
  c, arch = settings(config, 'spottune', config.method), config.model.arch
  kwargs = backbone_kwargs(config, bn_axis_name)
  if arch == 'resnet26':
    return spottune26.spottune_resnet26(num_classes, policy_width=c.policy_width, tau=c.tau,
                                        all_finetuned=True, **kwargs)
  model = spottune_lib.spottune_resnet(arch, num_classes, policy_width=c.policy_width,
                                       tau=c.tau, **kwargs)
  return model.clone(policy=functools.partial(model.policy, all_finetuned=True))


SPOTTUNE_ALL_FT = register(Method(name='spottune_all_ft', build_model=build_model,
                                  label=spottune_method.label))
