"""main.py's command line: absl's flag parsing, with a config file or an override of a
config field that does not exist reported as one line naming it."""
import difflib
import os
import sys
from typing import Optional, Sequence

from absl import app
from absl import flags
import ml_collections

from adafilter_jax.data import cli_errors
from adafilter_jax.train import config_files


def parse_flags(argv: Sequence[str]):
  """absl's flag parsing (`app.run(..., flags_parser=parse_flags)`): a config file or an
  override of a config field that does not exist exits naming it, not with
  ml_collections' traceback."""
  path = _flag_value(argv, 'config')
  if path is not None:
    file, colon, arg = path.partition(':')
    if config_files.find(file) != file:  # configs/... outside a checkout: the installed one
      path = config_files.find(file) + colon + arg
      print(f'--config {file}: not in this directory; using the installed {path}',
            file=sys.stderr)
      argv = _with_flag_value(argv, 'config', path)
  if path is not None and not os.path.isfile(path.split(':')[0]):
    print(f"FATAL Flags parsing error: --config: {path.split(':')[0]}: no such file (paths "
          'are relative to the current directory: run from the repository root, or give '
          "the config's path)", file=sys.stderr)
    sys.exit(1)
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    where = path and config_files.error_in_file(e, path.split(':')[0])
    if where:  # the config file's own code failed: its line, not ml_collections' frames
      error = ValueError(where)
      error.__cause__ = e
      sys.exit(cli_errors.report(error))
    if isinstance(e, flags.Error):  # absl's own message and exit status
      return app.parse_flags_with_usage(argv)
    if not isinstance(e, (AttributeError, KeyError)):
      raise
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


def _with_flag_value(argv: Sequence[str], flag: str, value: str) -> list:
  """`argv` with --flag's value replaced (--flag=V or --flag V)."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg.startswith(f'--{flag}='):
      out[i] = f'--{flag}={value}'
    elif arg == f'--{flag}' and i + 1 < len(out):
      out[i + 1] = value
  return out


def _flag_value(argv: Sequence[str], flag: str) -> Optional[str]:
  """The value of --flag in argv (--flag=V or --flag V)."""
  for i, arg in enumerate(argv):
    if arg.startswith(f'--{flag}='):
      return arg.split('=', 1)[1]
    if arg == f'--{flag}' and i + 1 < len(argv):
      return argv[i + 1]
  return None
