"""Config files by path, and ``key=value`` overrides, exactly as ``main.py`` takes them.

One parser for the whole project: `load` goes through ml_collections' `config_flags`,
the machinery behind ``python main.py --config path[:arg] --config.key=value``, so an
override means the same thing everywhere (a value parsed as the type of the field it
replaces, a tuple as a Python literal) and a key the config does not have is an error.
The package never imports the top-level ``configs/`` package: files are read by path
(`find`: a checkout's, or the installed copy's).
"""
import importlib.util
import os
import sys
import traceback
from typing import Optional, Sequence

from absl import flags
import ml_collections
from ml_collections import config_flags


def _parse(define, argv: Sequence[str], overrides: Sequence[str],
           what: str) -> ml_collections.ConfigDict:
  values = flags.FlagValues()
  argv = ['config', *argv] + [f'--config.{_check(item, what)}' for item in overrides]
  try:
    define(values, argv)  # config_flags finds the overrides to define in `argv`
    values(argv)
  except (flags.Error, AttributeError, KeyError) as e:  # an unknown key, a wrong type
    raise ValueError(f'{what}: bad override in {list(overrides)}: {e}') from e
  return values.config


def _check(item: str, what: str) -> str:
  if '=' not in item or not item.partition('=')[0].strip():
    raise ValueError(f'{what}: override {item!r} is not key=value')
  return item


def find(path: str) -> str:
  """`path` if it is a file; else, for a path in ``configs/``, the installed copy's (`pip
  install .` installs configs/ beside the package, so that the README's commands run
  outside a checkout); else `path` as given, for its caller to report."""
  parts = os.path.normpath(path).split(os.sep)
  if os.path.isfile(path) or parts[0] != 'configs':
    return path
  spec = importlib.util.find_spec('configs')  # finds it, imports nothing
  for folder in (spec.submodule_search_locations or []) if spec else []:
    installed = os.path.join(folder, *parts[1:])
    if os.path.isfile(installed):
      return installed
  return path


def error_in_file(error: BaseException, path: str) -> Optional[str]:
  """'FILE, line N: Type: message' when `error` comes from the code of config file `path`
  (its syntax, a name it does not define, an import that fails) or of a config file it
  runs from its folder (configs/transfer.py runs configs/<dataset>.py): FILE is the
  innermost of the files it ran, `path`'s own calls on. Else None."""
  if not os.path.isfile(path):
    return None
  folder = os.path.realpath(os.path.dirname(path) or '.')
  package = os.path.realpath(os.path.dirname(os.path.dirname(__file__)))

  def config_code(f):  # under the config's folder, neither this package nor a library
    real = os.path.realpath(f) if f and os.path.isfile(f) else ''
    return (real.startswith(folder + os.sep) and not real.startswith(package + os.sep)
            and 'site-packages' not in real.split(os.sep))

  def shown(f):  # relative to the config file's folder, as the user named the file
    return os.path.join(os.path.dirname(path), os.path.relpath(os.path.realpath(f), folder))

  same = lambda f: bool(f) and os.path.isfile(f) and os.path.samefile(f, path)
  # config_flags re-raises a file's ValueError or TypeError as a new one (its traceback
  # as text), and absl wraps that: the file's own error is down the chain.
  while error is not None:
    if isinstance(error, SyntaxError) and (same(error.filename) or config_code(error.filename)):
      return f'{shown(error.filename)}, line {error.lineno}: {type(error).__name__}: {error.msg}'
    frames = [(frame.f_code.co_filename, n) for frame, n in traceback.walk_tb(error.__traceback__)]
    starts = [i for i, (f, _) in enumerate(frames) if same(f)]
    if starts:
      i = starts[0]
      while i + 1 < len(frames) and config_code(frames[i + 1][0]):
        i += 1
      return f'{shown(frames[i][0])}, line {frames[i][1]}: {type(error).__name__}: {error}'
    error = error.__cause__ or error.__context__
  return None


def load(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """The config of file ``path[:arg]`` (its ``get_config([arg])``), locked, with
  `overrides` (``'key.sub=value'`` strings) applied."""
  path = spec.split(':', 1)[0]
  if not os.path.isfile(path):
    raise FileNotFoundError(f'config file {path!r} (from {spec!r}) does not exist; run from '
                            'the repository root or give its path')
  define = lambda values, argv: config_flags.DEFINE_config_file(
      'config', None, flag_values=values, lock_config=True, sys_argv=argv)
  # config_flags loads every file as the module `config_config`, and `load_module` runs a
  # second file in the first one's namespace: a name the file does not define would
  # resolve to the previous file's.
  sys.modules.pop('config_config', None)
  try:
    return _parse(define, [f'--config={spec}'], overrides, spec)
  except Exception as e:  # pylint: disable=broad-except
    where = error_in_file(e, path)
    if where is None:
      raise
    raise ValueError(where) from e


def override(config: ml_collections.ConfigDict, overrides: Sequence[str],
             what: str = 'config') -> ml_collections.ConfigDict:
  """A copy of `config` with `overrides` applied, as `load` applies them."""
  define = lambda values, argv: config_flags.DEFINE_config_dict(
      'config', config.copy_and_resolve_references(), flag_values=values, lock_config=True,
      sys_argv=argv)
  return _parse(define, [], overrides, what)
