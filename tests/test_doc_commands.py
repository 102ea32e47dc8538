"""Every command of README.md and docs/*.md runs as written on a fresh clone, read out of
the files (tests/doc_commands.py) so that they cannot drift: the interpreter is `python`,
the module or script exists, its config files exist and their `--config.*` keys too, and
its flags parse with the module's own parser (argparse: its `main`, stopped once parsed;
absl: the flags its source defines, each value parsed as its type). Datasets, a GPU and
the network are not needed for that; the two offline commands that print a table run for
real."""
import argparse
import ast
import contextlib
import importlib
import importlib.util
import io
import os
import re
import runpy
import tomllib
import warnings

import ml_collections
import pytest

from adafilter_jax.train import config_files
from tests import doc_commands

ROOT = str(doc_commands.ROOT)
SCRIPTS = {name: target.split(':')[0] for name, target in tomllib.loads(
    (doc_commands.ROOT / 'pyproject.toml').read_text())['project']['scripts'].items()}
# Words that stand for what the user fills in (a folder, a name, a seed): not parsed.
_PLACEHOLDER = re.compile(r'^(\.\.\.|[A-Z][A-Z_]*|\S*\.\.\.\S*)$')
# absl's own flags, which every absl command takes.
_ABSL = {'verbosity', 'v', 'logtostderr', 'alsologtostderr', 'log_dir', 'stderrthreshold',
         'showprefixforinfo', 'only_check_args', 'help', 'helpshort', 'helpfull', 'flagfile',
         'undefok', 'run_with_pdb', 'pdb', 'run_with_profiling', 'use_cprofile_for_profiling'}
COMMANDS = doc_commands.commands()


def _placeholder(word: str) -> bool:
  return bool(_PLACEHOLDER.match(word))


def _words(command) -> list:
  """The command's words, optional `[...]` parts given (their flags are checked too)."""
  return [w for w in command.words for w in [w.strip('[]')] if w]


def _flags(words):
  """[(name, value or None)] of `--name=value` / `--name value` / `--bool` words, and the
  positional words; a value is taken from the next word when it is not a flag."""
  out, positional, i = [], [], 0
  while i < len(words):
    w = words[i]
    if w.startswith('--'):
      name, eq, value = w[2:].partition('=')
      if not eq and i + 1 < len(words) and not words[i + 1].startswith('-'):
        value, i = words[i + 1], i + 1
      out.append((name, value if (eq or value) else None))
    else:
      positional.append(w)
    i += 1
  return out, positional


def _absl_flags(path: str) -> dict:
  """name -> (DEFINE_ kind, enum values) of every flag the module's source defines."""
  out = {}
  for node in ast.walk(ast.parse(open(path).read())):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith('DEFINE_') and node.args
        and isinstance(node.args[0], ast.Constant)):
      kind = node.func.attr[len('DEFINE_'):]
      enum = None
      if kind == 'enum' and len(node.args) > 2:
        with contextlib.suppress(ValueError):  # a computed list: values not checked
          enum = ast.literal_eval(node.args[2])
      out[node.args[0].value] = (kind, enum)
  return out


def _check_value(kind: str, enum, name: str, value):
  if value is None or _placeholder(value):
    assert value is not None or kind == 'bool', f'--{name} needs a value'
    return
  parse = {'integer': int, 'float': float, 'bool': lambda v: {'true': 1, 'false': 0}[v.lower()],
           'enum': lambda v: enum and enum.index(v), 'list': lambda v: v.split(',')}.get(kind)
  if parse:
    parse(value)


def _check_config(spec: str, overrides: list):
  """The config file exists and has every overridden key; a value given parses."""
  if _placeholder(spec):
    return
  file = spec.partition(':')[0]
  assert os.path.isfile(os.path.join(ROOT, file)), f'--config {spec}: no file {file}'
  config = config_files.load(os.path.join(ROOT, spec))
  for key, value in overrides:
    node = config
    for part in key.split('.'):
      assert isinstance(node, ml_collections.ConfigDict) and part in node, (
          f'--config.{key}: {spec} has no field {part!r}')
      node = node[part]
    if value is not None and not _placeholder(value):
      config_files.load(os.path.join(ROOT, spec), [f'{key}={value}'])


def check_absl(path: str, words: list):
  defined = _absl_flags(path)
  named, _ = _flags(words)
  overrides = [(n[len('config.'):], v) for n, v in named if n.startswith('config.')]
  for name, value in named:
    if name.startswith('config.'):
      assert 'config' in defined, f'--{name}: {path} has no --config'
      continue
    if name in _ABSL:
      continue
    base = name[2:] if name.startswith('no') and name[2:] in defined else name
    assert base in defined, f'--{name}: not a flag of {os.path.relpath(path, ROOT)}'
    kind, enum = defined[base]
    if kind == 'config_file':
      _check_config(value, overrides)
    else:
      _check_value(kind, enum, name, value)


class _Parsed(Exception):
  pass


def check_argparse(module: str, words: list, monkeypatch):
  """The module's own `main`, stopped as soon as its parser has parsed `words`."""
  parse = argparse.ArgumentParser.parse_args

  def parse_and_stop(self, args=None, namespace=None):
    raise _Parsed(parse(self, args, namespace))

  monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse_and_stop)
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    try:
      importlib.import_module(module).main(words)
    except _Parsed:
      return
    except SystemExit as e:
      pytest.fail(f'{module}: its flags do not parse ({e.code}): {err.getvalue().strip()}')
  pytest.fail(f'{module}: main() returned without parsing its flags')


def _module_spec(module: str):
  spec = importlib.util.find_spec(module)
  assert spec is not None, f'no module {module}'
  if spec.submodule_search_locations:  # a package: python -m runs its __main__
    spec = importlib.util.find_spec(f'{module}.__main__')
    assert spec is not None, f'{module} is a package without __main__'
  return spec


def check_module(module: str, words: list, monkeypatch):
  spec = _module_spec(module)
  source = open(spec.origin).read()
  if 'app.run(' in source:  # absl: the flags its source defines
    check_absl(spec.origin, words)
  elif re.search(r'^def main\(', source, re.M):  # argparse, in its main
    check_argparse(spec.name, words, monkeypatch)
  else:  # no flags: offline, cheap, prints a table: run it
    assert not words, f'{module} takes no arguments'
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
      # Imported already by its package, here: `python -m` runs it in a fresh process.
      warnings.simplefilter('ignore', RuntimeWarning)
      runpy.run_module(module, run_name='__main__')
    assert out.getvalue().strip()


def _without_env(words):
  while words and re.match(r'^[A-Z_]+=', words[0]):
    words = words[1:]
  return words


@pytest.mark.parametrize('command', COMMANDS, ids=[f'{c.where} {c.text[:60]}' for c in COMMANDS])
def test_command_runs_as_written(command, monkeypatch):
  check(command, monkeypatch)


# What would not run, one mistake each: the check must refuse every one.
WRONG = ['python main.py --config configs/demo.py --config.demo.metods=x',
         'python main.py --config configs/dmeo.py',
         'python main.py --config configs/demo.py --mode=evaluate',
         'python main.py --config configs/demo.py --config.seed=one',
         'adafilter-evaluate runs/demo/adafilter --checkpoint newest',
         'python -m adafilter_jax.apps.report',
         'python -m adafilter_jax.data.prepare digits --manual-dir DIR',
         'python -m adafilter_jax.apps.bench.data --workers=0 --batch=x',
         'python -m adafilter_jax.apps.evalute runs/demo/adafilter',
         'python -m adafilter_jax.apps.report runs/demo/adafilter/eval/best_step95_test',
         '/usr/bin/python3 main.py --config configs/demo.py',
         'python -m pytest tests/no_such_folder',
         'pip install -r requirements-gpu.txt',
         'adafilter-trian --config configs/demo.py']


@pytest.mark.parametrize('text', WRONG)
def test_the_check_refuses_what_would_not_run(text, monkeypatch):
  with pytest.raises((AssertionError, ValueError, pytest.fail.Exception)):
    check(doc_commands.Command('test', text), monkeypatch)


def check(command, monkeypatch):
  words = _without_env(_words(command))
  assert not [w for w in words if re.search(r'step\d+', w)], (
      'a checkpoint step depends on the machine that trained: name the folder above it')
  program, args = words[0], words[1:]
  monkeypatch.chdir(ROOT)
  if program.startswith('adafilter-'):
    assert program in SCRIPTS, f'{program}: no such console command (pyproject.toml)'
    if not args:  # the command's name, in a sentence
      return
    module = SCRIPTS[program]
    if module == 'main':
      check_absl(os.path.join(ROOT, 'main.py'), args)
    else:
      check_module(module, args, monkeypatch)
    return
  if program == 'pip':
    if args[:2] == ['install', '-r']:
      assert os.path.isfile(args[2]), args[2]
    elif args[:1] == ['install'] and args[-1] == '.':
      assert os.path.isfile('pyproject.toml')
    return  # anything else fetches from the index
  assert program == 'python', (
      f'{program}: run as `python` (the active environment), not a path of one machine')
  if not args:
    return
  if args[0] == '-c':
    compile(args[1], command.where, 'exec')
  elif args[0] == '-m' and args[1] == 'pytest':
    for path in (a for a in args[2:] if not a.startswith('-')):
      assert os.path.exists(path), f'pytest {path}: no such path'
  elif args[0] == '-m':
    check_module(args[1], args[2:], monkeypatch)
  else:
    assert os.path.isfile(args[0]), f'{args[0]}: no such script'
    check_absl(os.path.abspath(args[0]), args[1:])


def test_the_commands_are_found():
  """The reader finds the commands where the docs hold them: fenced, chained, continued,
  prompted and inline."""
  text = {c.text for c in COMMANDS}
  assert {'pip install -r requirements.txt', 'python main.py --config configs/demo.py',
          'python -m pytest -q'} <= text  # README's quick start, one `&&` line each
  assert any(c.startswith('python -m adafilter_jax.apps.reproduce --datasets demo') and
             c.endswith('--set progress_bar=False') for c in text)  # `$ ` and `\`
  assert 'python -m adafilter_jax.apps.report runs/demo' in text  # inline
  assert len(COMMANDS) > 80
