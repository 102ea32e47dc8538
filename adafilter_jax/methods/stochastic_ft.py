"""Stochastic fine-tuning (SpotTune Table 2): a random half of the residual blocks
fine-tuned, the other half and the stem frozen; the half is drawn once per seed.

``config.stochastic_ft.blocks``: '' draws the half from ``config.seed`` and writes it
back into this field, so the run's config.json records it; or the comma-separated
blocks of an earlier draw (exactly half of them) to repeat it.
"""
from absl import logging
import ml_collections
import numpy as np

from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods import frozen_blocks
from adafilter_jax.methods import schedules


def draw(names, seed: int) -> list:
  """A random half of `names` (rounded down), fixed by `seed`, in forward order."""
  chosen = np.random.default_rng(seed).choice(len(names), len(names) // 2, replace=False)
  return [names[i] for i in sorted(chosen)]


def tuned_blocks(config) -> list:
  if 'stochastic_ft' not in config or 'blocks' not in config.stochastic_ft:
    raise ValueError('stochastic_ft needs config.stochastic_ft.blocks ("" to draw from the '
                     'seed; use its recipe: configs/transfer.py:method=stochastic_ft)')
  names = frozen_blocks.blocks(config.model.arch)
  given = [b.strip() for b in config.stochastic_ft.blocks.split(',') if b.strip()]
  if not given:
    given = draw(names, config.seed)
    config.stochastic_ft.blocks = ','.join(given)
    logging.info('stochastic_ft: seed %d fine-tunes %s', config.seed, given)
  if len(given) != len(names) // 2:
    raise ValueError(f'config.stochastic_ft.blocks names {len(given)} blocks; stochastic '
                     f'fine-tuning tunes half of {config.model.arch}\'s {len(names)}')
  return given


def build_model(config, num_classes, bn_axis_name=None):
  return frozen_blocks.build(config, num_classes, bn_axis_name, tuned_blocks(config))


def recipe(c):
  """Stochastic fine-tuning (SpotTune Table 2): a random half of the residual blocks
  fine-tuned, drawn once from ``config.seed`` and written into
  ``config.stochastic_ft.blocks`` (so the run's config.json records it; set it to repeat
  a draw); SpotTune's schedule (methods/schedules.py).

    python main.py --config configs/transfer.py:dataset=cubs,method=stochastic_ft \
        --config.seed=1
  """
  c.stochastic_ft = ml_collections.ConfigDict(dict(blocks=''))
  return schedules.spottune(c)


STOCHASTIC_FT = register(Method(name='stochastic_ft', build_model=build_model,
                                label=frozen_blocks.label, recipe=recipe))
