"""Random policy (AdaFilter Table 2): the AdaFilter model with G ~ Bernoulli(p) drawn
afresh per example and channel, independent of the input, never learned.

It isolates what the learned gate adds: same two filter copies, same gated BN, no
gate parameters (the gate draws from the 'gate' rng stream in every apply). p is
``config.adafilter.random_p``; the config must say ``adafilter.gate='random'`` (the
recipe below does), so that the saved config is what ran.
"""
from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods import adafilter


def build_model(config, num_classes, bn_axis_name=None):
  if config.adafilter.gate != 'random':
    raise ValueError(
        f"random_policy is AdaFilter with config.adafilter.gate='random', this config has "
        f"{config.adafilter.gate!r}: start from its recipe, python main.py --config "
        f"configs/transfer.py:dataset=<dataset>,method=random_policy, or set "
        f"--config.adafilter.gate=random.")
  return adafilter.build_model(config, num_classes, bn_axis_name)


def recipe(c):
  """Random policy (Table 2): AdaFilter with G ~ Bernoulli(p), not learned.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=random_policy
  """
  c.adafilter.gate = 'random'  # the method checks it (never overrides the config)
  c.adafilter.random_p = 0.5
  return c


RANDOM_POLICY = register(Method(name='random_policy', build_model=build_model,
                                prepare=adafilter.save_plan, recipe=recipe))
