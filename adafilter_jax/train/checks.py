"""Mistakes in a config, caught before anything trains.

`train_and_evaluate` checks its own config before compiling (`validate`): first every
numeric field against what it accepts (`FIELDS`, `check_fields`), then the method, the
evaluators, the batch against the devices, the dataset and its splits; and whether saved
weights fit a config's model (`check_weights_fit`). The command line's own mistakes
(a config field it names that the config lacks) are command_line.py's.
"""
import dataclasses
from typing import Optional, Sequence

import jax
import ml_collections
import numpy as np

from adafilter_jax import methods
from adafilter_jax.models import own
from adafilter_jax.weights import pretrained as pretrained_lib
from adafilter_jax.data import pipeline
from adafilter_jax.train import evaluators
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import sinks
from adafilter_jax.train import state as state_lib


@dataclasses.dataclass(frozen=True)
class Range:
  """What a numeric field accepts: `kind` (int or float) from `lo` to `hi`, an open end
  excluded; `optional`: None too (a placeholder left unset)."""
  kind: type
  lo: Optional[float] = None
  hi: Optional[float] = None
  lo_open: bool = False
  hi_open: bool = False
  optional: bool = False

  def accepts(self, value) -> bool:
    if value is None:
      return self.optional
    if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind is float
                                                 else int):
      return False
    return ((self.lo is None or value > self.lo or (value == self.lo and not self.lo_open))
            and (self.hi is None or value < self.hi or (value == self.hi and not self.hi_open)))

  def __str__(self):
    what = 'an integer' if self.kind is int else 'a number'
    if self.hi is None:
      what += f" {'>' if self.lo_open else '>='} {self.lo:g}"
    else:
      what += (f" in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}"
               f"{')' if self.hi_open else ']'}")
    return f'None or {what}' if self.optional else what


_COUNT, _RATE, _FRACTION = Range(int, 1), Range(float, 0), Range(float, 0, 1)
# Every numeric field of the config and what it accepts, checked before anything is read,
# built or written: a batch of -4 would train -13 steps an epoch. A field a config lacks
# (the demo's block, say) is skipped. The relations between fields are below (`_RELATIONS`).
FIELDS = {
    'seed': Range(int, 0), 'batch_size': _COUNT, 'eval_batch_size': _COUNT,
    'num_epochs': _COUNT, 'num_classes': Range(int, 1, optional=True),
    'log_every_steps': _COUNT, 'model.width': _COUNT, 'grad_accum_steps': _COUNT,
    'optim.lr': _RATE, 'optim.gate_lr': _RATE, 'optim.head_lr': Range(float, 0, optional=True),
    'optim.momentum': Range(float, 0, 1, hi_open=True), 'optim.weight_decay': _RATE,
    'optim.decay_factor': Range(float, 0, 1, lo_open=True),
    'data.image_size': _COUNT, 'data.resize_size': _COUNT, 'data.num_workers': Range(int, 0),
    'data.prefetch_batches': _COUNT, 'data.val_fraction': Range(float, 0, 1, hi_open=True),
    'data.val_seed': Range(int, 0), 'data.sample_rate': Range(float, 0, 1, lo_open=True),
    'data.sample_seed': Range(int, 0),
    'adafilter.embed_dim': _COUNT, 'adafilter.hidden_dim': _COUNT,
    'adafilter.gate_width': _COUNT, 'adafilter.random_p': _FRACTION,
    'demo.source_epochs': _COUNT, 'demo.source_batch_size': _COUNT, 'demo.source_lr': _RATE,
    'lp_ft.lp_epochs': _COUNT, 'lp_ft.lp_lr': _RATE, 'bss.eta': _RATE, 'bss.k': _COUNT,
    'delta.alpha': _RATE, 'delta.beta': _RATE, 'delta.probe_epochs': _COUNT,
    'delta.probe_lr': _RATE, 'delta.probe_weight_decay': _RATE, 'delta.attention_images': _COUNT,
    'co_tuning.trade_off': _RATE, 'co_tuning.source_classes': _COUNT,
}


def _epochs_within(epochs_key: str):
  def check(config, value):
    last = _get(config, epochs_key)
    ok = all(isinstance(e, int) and 1 <= e <= last for e in value) and all(
        a < b for a, b in zip(value, value[1:]))
    return ok, f'increasing epochs in [1, config.{epochs_key}={last}] (or none)'
  return check


def _crop_scale(config, value):
  del config
  ok = len(value) == 2 and 0 < value[0] <= value[1] <= 1
  return ok, 'two numbers 0 < min <= max <= 1'


def _profile_steps(config, value):
  del config
  return (all(isinstance(s, int) and s >= 1 for s in value),
          'train steps counted from 1, as metrics.jsonl counts them (or none)')


def _resize_size(config, value):
  size = config.data.image_size
  return value >= size, f'an integer >= config.data.image_size={size}'


# Fields checked against others: key -> (config, value) -> (accepted, what is accepted).
_RELATIONS = {
    'optim.decay_epochs': _epochs_within('num_epochs'),
    'demo.source_decay_epochs': _epochs_within('demo.source_epochs'),
    'lp_ft.lp_decay_epochs': _epochs_within('lp_ft.lp_epochs'),
    'delta.probe_decay_epochs': _epochs_within('delta.probe_epochs'),
    'data.crop_scale': _crop_scale,
    'data.resize_size': _resize_size,
    'profile_steps': _profile_steps,
}


def _get(config, key: str):
  for part in key.split('.'):
    if not isinstance(config, ml_collections.ConfigDict) or part not in config:
      return _MISSING
    config = config[part]
  return config


_MISSING = object()


def check_fields(config: ml_collections.ConfigDict, keys: Optional[Sequence[str]] = None):
  """Raises naming every field of `config` (of `keys`, default all) out of its range:
  its key, its value and what it accepts."""
  wrong = []
  for key in keys or dict.fromkeys((*FIELDS, *_RELATIONS)):
    value = _get(config, key)
    if value is _MISSING:
      continue
    if key in FIELDS and not FIELDS[key].accepts(value):
      wrong.append(f'config.{key}={value}: must be {FIELDS[key]}')
    elif key in _RELATIONS:
      ok, accepted = _RELATIONS[key](config, value)
      if not ok:
        wrong.append(f'config.{key}={value}: must be {accepted}')
  if wrong:
    raise ValueError('; '.join(wrong) + '.')


def validate(config: ml_collections.ConfigDict) -> pipeline.DatasetInfo:
  """What `train_and_evaluate(config)` checks first, without building anything."""
  check_fields(config)
  methods.get(config.method)
  evaluators.check(evaluators.names(config))
  own.check(config)
  par = parallel_lib.Parallel(config.parallel)
  par.check_batch(config.batch_size)
  par.check_batch(config.eval_batch_size, 'config.eval_batch_size')
  _check_accumulation(config, par.num_devices)
  sinks.check(config)
  info = pipeline.load_dataset_info(config.data)
  if pipeline.steps_per_epoch(info.num_train, config.batch_size) == 0:
    raise ValueError(f'{config.data.name}: {info.num_train} training images < '
                     f'config.batch_size={config.batch_size}.')
  return info


def _check_accumulation(config, num_devices: int):
  accum = config.grad_accum_steps
  if config.batch_size % (num_devices * accum):
    raise ValueError(f'config.batch_size={config.batch_size} does not split into '
                     f'config.grad_accum_steps={accum} equal micro-batches on each of the '
                     f'{num_devices} devices: it must be a multiple of {num_devices * accum}.')


def check_weights_fit(config, num_classes: int, weights: dict, where: str):
  """Raises naming the first leaf of `config`'s model that `weights` do not fit."""
  model = methods.get(config.method).build_model(config, num_classes, None)
  shapes = jax.eval_shape(lambda: state_lib.abstract_variables(model, config.data.image_size))
  try:
    pretrained_lib.transfer(weights, jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes))
  except ValueError as e:
    raise ValueError(f'{where}: weights of another model than config.model='
                     f'{config.model.to_dict()}; use another --workdir. {e}') from None
