"""Mistakes in a config or on the command line, caught before anything trains.

`train_and_evaluate` checks its own config before compiling (`validate`). What it cannot
see is checked here too: a config field the command line names but the config lacks
(`parse_flags`), and whether saved weights fit a config's model (`check_weights_fit`).
"""
import difflib
import sys
from typing import Optional, Sequence

from absl import app
from absl import flags
import jax
import ml_collections
import numpy as np

from adafilter_jax import methods
from adafilter_jax.weights import pretrained as pretrained_lib
from adafilter_jax.data import pipeline
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import sinks
from adafilter_jax.train import state as state_lib

def validate(config: ml_collections.ConfigDict) -> pipeline.DatasetInfo:
  """What `train_and_evaluate(config)` checks first, without building anything."""
  methods.get(config.method)
  par = parallel_lib.Parallel(config.parallel)
  par.check_batch(config.batch_size)
  par.check_batch(config.eval_batch_size, 'config.eval_batch_size')
  _check_accumulation(config, par.num_devices)
  _check_profile_steps(config.profile_steps)
  sinks.check(config)
  info = pipeline.load_dataset_info(config.data)
  if pipeline.steps_per_epoch(info.num_train, config.batch_size) == 0:
    raise ValueError(f'{config.data.name}: {info.num_train} training images < '
                     f'config.batch_size={config.batch_size}.')
  return info


def _check_accumulation(config, num_devices: int):
  accum = config.grad_accum_steps
  if not isinstance(accum, int) or accum < 1:
    raise ValueError(f'config.grad_accum_steps={accum!r} must be an integer >= 1.')
  if config.batch_size % (num_devices * accum):
    raise ValueError(f'config.batch_size={config.batch_size} does not split into '
                     f'config.grad_accum_steps={accum} equal micro-batches on each of the '
                     f'{num_devices} devices: it must be a multiple of {num_devices * accum}.')


def _check_profile_steps(profile_steps):
  bad = [s for s in profile_steps if not isinstance(s, int) or s < 1]
  if bad:
    raise ValueError(f'config.profile_steps={tuple(profile_steps)!r}: steps are counted from '
                     f'1 (the first optimizer update); not valid: {bad}.')


def check_weights_fit(config, num_classes: int, weights: dict, where: str):
  """Raises naming the first leaf of `config`'s model that `weights` do not fit."""
  model = methods.get(config.method).build_model(config, num_classes, None)
  shapes = jax.eval_shape(lambda: state_lib.abstract_variables(model, config.data.image_size))
  try:
    pretrained_lib.transfer(weights, jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes))
  except ValueError as e:
    raise ValueError(f'{where}: weights of another model than config.model='
                     f'{config.model.to_dict()}; use another --workdir. {e}') from None


def parse_flags(argv: Sequence[str]):
  """absl's flag parsing (`app.run(..., flags_parser=parse_flags)`): an override of a
  config field that does not exist exits naming it, not with ml_collections' traceback."""
  try:
    return app.parse_flags_with_usage(argv)
  except (AttributeError, KeyError) as e:
    message = unknown_override(argv) or repr(e)
    print(f'FATAL Flags parsing error: {message}', file=sys.stderr)
    sys.exit(1)


def unknown_override(argv: Sequence[str], flag: str = 'config') -> Optional[str]:
  """'--config.a.b: FILE has no field 'b'...' for the first override naming no field."""
  path = _flag_value(argv, flag)
  if path is None:
    return None
  config = flags.FLAGS[flag].parser.parse(path)  # the overrides failed: not loaded yet
  for arg in argv[1:]:
    if not arg.startswith(f'--{flag}.'):
      continue
    field = arg[len(flag) + 3:].split('=')[0]
    node = config
    for part in field.split('.'):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        keys = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        close = difflib.get_close_matches(part, keys, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        return f'--{flag}.{field}: {path} has no field {part!r}{hint}'
      node = node[part]
  return None


def _flag_value(argv: Sequence[str], flag: str) -> Optional[str]:
  """The value of --flag in argv (--flag=V or --flag V)."""
  for i, arg in enumerate(argv):
    if arg.startswith(f'--{flag}='):
      return arg.split('=', 1)[1]
    if arg == f'--{flag}' and i + 1 < len(argv):
      return argv[i + 1]
  return None
