"""The package's folders are its layers: every import, inside functions too, runs to the
module's own floor or below, and no set of modules imports itself round in a cycle."""
import ast
import importlib
import pathlib
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / 'adafilter_jax'

# The floors, from the bottom: a module of a floor imports from its own floor or below.
LAYERS = (
    ('models', 'data'),  # the networks; the input pipeline
    ('weights',),        # pretrained weights: converters, loading into a model
    ('methods',),        # the method registry
    ('train',),          # the training loop and its parts
    ('systems',),        # built on training: selective joint FT, global-k, the Decathlon
    ('inference',),      # after training: restore, evaluate, predict, export, serve
    ('apps',),           # the job table, the grid, the report, benchmarks, demos, faults
)


def modules(root: pathlib.Path) -> dict:
  """Dotted module name -> file, for every module of the package at `root`."""
  out = {}
  for f in root.rglob('*.py'):
    parts = (root.name,) + f.relative_to(root).with_suffix('').parts
    out['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = f
  return out


def imports(mods: dict) -> dict:
  """module -> {(imported module, line)}: every import statement, wherever it stands,
  resolved to the deepest module of the package that it names."""
  def resolve(name):
    while name and name not in mods:
      name = name.rsplit('.', 1)[0] if '.' in name else ''
    return name

  edges = {m: set() for m in mods}
  for m, f in mods.items():
    package = m if f.name == '__init__.py' else m.rsplit('.', 1)[0]
    for node in ast.walk(ast.parse(f.read_text(), str(f))):
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ''
        if node.level:
          up = package.split('.')[:len(package.split('.')) - node.level + 1]
          base = '.'.join(up + ([base] if base else []))
        targets = [f'{base}.{a.name}' for a in node.names]
      else:
        continue
      for t in targets:
        t = resolve(t)
        if t and t != m:
          edges[m].add((t, node.lineno))
  return edges


def floor(module: str, layers=LAYERS) -> int:
  parts = module.split('.')
  if len(parts) < 2:
    return -1  # the package's own __init__: below every floor
  for i, names in enumerate(layers):
    if parts[1] in names:
      return i
  raise AssertionError(f'{module}: its folder {parts[1]!r} is on no floor of LAYERS')


def upward(edges: dict, layers=LAYERS) -> list:
  """'a (floor) -> b (floor), line N' for every import of a higher floor."""
  return [f'{m} ({layers[floor(m, layers)]}) imports {t} ({layers[floor(t, layers)]}), '
          f'line {line}' for m, targets in sorted(edges.items())
          for t, line in sorted(targets) if floor(t, layers) > floor(m, layers)]


def cycles(edges: dict) -> list:
  """The strongly connected components of more than one module (Tarjan)."""
  graph = {m: {t for t, _ in ts} for m, ts in edges.items()}
  index, low, stack, on, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(sorted(comp))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def test_every_folder_is_on_a_floor():
  folders = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / '__init__.py').exists()}
  assert folders == {name for names in LAYERS for name in names}
  # The root holds the package's docstring and nothing else.
  assert sorted(p.name for p in ROOT.glob('*.py')) == ['__init__.py']


def test_no_import_runs_up_a_floor():
  assert upward(imports(modules(ROOT))) == []


def test_no_import_cycle():
  assert cycles(imports(modules(ROOT))) == []


def test_the_package_imports_neither_configs_nor_tests():
  for f in ROOT.rglob('*.py'):
    for node in ast.walk(ast.parse(f.read_text())):
      names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
               [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
      assert not [n for n in names if n.split('.')[0] in ('configs', 'tests')], f


def test_no_package_binds_a_submodules_name_to_something_else():
  """`from adafilter_jax.models import resnet` must give the module resnet.py, not a
  function that its package's __init__ imported under the same name."""
  for init in ROOT.rglob('__init__.py'):
    package = importlib.import_module('.'.join(init.parent.relative_to(ROOT.parent).parts))
    for sub in init.parent.iterdir():
      name = sub.stem if sub.suffix == '.py' else sub.name if (sub / '__init__.py').exists() else ''
      bound = getattr(package, name, None) if name and name != '__init__' else None
      assert bound is None or getattr(bound, '__name__', '') == f'{package.__name__}.{name}', (
          f'{package.__name__}.{name} is {bound!r}, not the submodule')


def _package(tmp_path, files: dict) -> pathlib.Path:
  root = tmp_path / 'adafilter_jax'
  for name, text in files.items():
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
  return root


def test_a_planted_cycle_is_found_even_when_deferred(tmp_path):
  root = _package(tmp_path, {
      '__init__.py': '',
      'train/__init__.py': '',
      'train/loop.py': 'from adafilter_jax.train import checks\n',
      'train/checks.py': 'def f():\n  from adafilter_jax.train import loop\n',
      'train/steps.py': 'from adafilter_jax.train.checks import f\n',
  })
  assert cycles(imports(modules(root))) == [['adafilter_jax.train.checks',
                                            'adafilter_jax.train.loop']]


def test_a_planted_upward_import_is_found_even_when_deferred(tmp_path):
  root = _package(tmp_path, {
      '__init__.py': '',
      'models/__init__.py': '',
      'models/resnet.py': 'def f():\n  from adafilter_jax.apps import report\n',
      'apps/__init__.py': '',
      'apps/report.py': 'from adafilter_jax.models import resnet\n',
  })
  edges = imports(modules(root))
  assert upward(edges) == ["adafilter_jax.models.resnet (('models', 'data')) imports "
                           "adafilter_jax.apps.report (('apps',)), line 2"]
  with pytest.raises(AssertionError, match='no floor'):
    floor('adafilter_jax.nowhere.x')
