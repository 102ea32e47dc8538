"""Random policy (AdaFilter Table 2): the AdaFilter model with G ~ Bernoulli(p) drawn
afresh per example and channel, independent of the input, never learned.

It isolates what the learned gate adds: same two filter copies, same gated BN, no
gate parameters (the gate draws from the 'gate' rng stream in every apply).
"""
from adafilter_jax.methods import Method, adafilter, register


def build_model(config, num_classes, bn_axis_name=None):
  config = config.copy_and_resolve_references()
  config.adafilter.gate = 'random'
  return adafilter.build_model(config, num_classes, bn_axis_name)


RANDOM_POLICY = register(Method(name='random_policy', build_model=build_model))
