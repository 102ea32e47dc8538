"""What the commands log: the project's records at INFO, libraries' only from WARNING
(adafilter_jax/data/logs.py), whichever folder the libraries are installed in, and every
command installs the one filter."""
import importlib
import logging as py_logging
import os
import re
import subprocess
import sys

from absl import app
from absl import logging
import numpy as np
import orbax.checkpoint.checkpoint_manager as orbax_manager
import pytest

from adafilter_jax.data import logs
from adafilter_jax.train import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _record(pathname, level=py_logging.INFO, name='absl', msg='a line'):
  return py_logging.LogRecord(name, level, pathname, 1, msg, None, None)


def _kept(record):
  return logs.QuietLibraries().filter(record)


def test_library_info_is_dropped_and_its_warnings_kept():
  assert not _kept(_record(orbax_manager.__file__))
  assert _kept(_record(orbax_manager.__file__, py_logging.WARNING))
  assert not _kept(_record('x.py', name='jax._src.xla_bridge'))  # a Python logger's own name
  assert _kept(_record('x.py', name='jax._src.xla_bridge', level=py_logging.ERROR))


def test_project_info_is_kept():
  assert _kept(_record(checkpoint.__file__))
  assert _kept(_record('x.py', name='adafilter_jax.train.loop'))


def test_a_library_inside_the_checkout_is_still_a_library(tmp_path, monkeypatch):
  """The defect: main.py kept every record whose file path started with the checkout's
  folder, so a virtual environment inside it (.ci/run's .venv) or beside it (/tmp/x_venv
  beside /tmp/x) printed orbax's INFO."""
  sites = (tmp_path / 'checkout' / '.venv' / 'site-packages', tmp_path / 'checkout_venv')
  for i, site in enumerate(sites):
    package = site / f'fakelib_{i}'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('')
    monkeypatch.syspath_prepend(str(site))
    module = importlib.import_module(package.name)
    assert not _kept(_record(module.__file__))


SCRIPT = """
import sys
from absl import logging
import numpy as np
from adafilter_jax.data import logs
from adafilter_jax.train import checkpoint
if sys.argv[2] == 'quiet':
  logs.quiet_libraries(logging.INFO)
else:
  logging.set_verbosity(logging.INFO)
logging.info('the script itself')
with checkpoint.Checkpoints(sys.argv[1]) as ckpts:  # orbax logs each step at INFO
  ckpts.save(1, {'w': np.zeros(2)}, {'epoch': 1}, {'eval_top1': 1.0})
"""


def test_a_command_without_app_run_prints_no_library_info(tmp_path):
  """evaluate, export, reproduce, experiments (argparse, no absl app.run): absl's first
  record installed Python's default handler, which no filter was on."""
  script = tmp_path / 'command.py'
  script.write_text(SCRIPT)
  info = {}
  for mode in ('quiet', 'plain'):
    err = subprocess.run([sys.executable, str(script), str(tmp_path / mode), mode],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, 'PYTHONPATH': ROOT}).stderr
    info[mode] = [l for l in err.splitlines() if re.match(r'(I\d{4} |INFO:)', l)]
  assert len(info['quiet']) == 1 and info['quiet'][0].endswith('the script itself')
  assert len(info['plain']) > 3  # orbax's, without the filter: what the test would see


@pytest.fixture
def absl_handler():
  handler = logging.get_absl_handler()
  saved, verbosity = list(handler.filters), logging.get_verbosity()
  handler.filters = [f for f in saved if not isinstance(f, logs.QuietLibraries)]
  yield handler
  handler.filters = saved
  logging.set_verbosity(verbosity)


def _installed(handler):
  return sum(isinstance(f, logs.QuietLibraries) for f in handler.filters)


# Each command with arguments that stop it at once (a missing workdir, one argument too
# many): the filter must be on before anything it does can log.
COMMANDS = [
    ('main', lambda m, tmp: m.main(['main.py', 'extra'])),
    ('adafilter_jax.apps.evaluate', lambda m, tmp: m.main([str(tmp / 'none')])),
    ('adafilter_jax.inference.export', lambda m, tmp: m.main([str(tmp / 'none'), str(tmp / 'o')])),
    ('adafilter_jax.inference.predict', lambda m, tmp: m.main([str(tmp / 'none'), str(tmp)])),
    ('adafilter_jax.apps.report.__main__', lambda m, tmp: m.main([str(tmp / 'none')])),
    ('adafilter_jax.apps.reproduce', lambda m, tmp: m.main(['--datasets', 'no_such_dataset'])),
    ('adafilter_jax.apps.experiments',
     lambda m, tmp: m.main(['--datasets', 'no_such_dataset', '--root', str(tmp)])),
    ('adafilter_jax.data.prepare', lambda m, tmp: m.main(['prepare'])),
    ('adafilter_jax.weights.convert', lambda m, tmp: m.main(['convert'])),
]


@pytest.mark.parametrize('module,call', COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_installs_the_filter_once(module, call, absl_handler, tmp_path,
                                                monkeypatch):
  monkeypatch.chdir(tmp_path)
  mod = importlib.import_module(module)
  for _ in range(2):
    try:
      call(mod, tmp_path)
    except (SystemExit, app.UsageError, ValueError, OSError, KeyError, AttributeError):
      pass  # how each stops (convert: its flags, defined by its command only): the filter counts
  assert _installed(absl_handler) == 1


def test_an_interrupts_save_logs_no_orbax_warning(tmp_path):
  """Ctrl-C saves without eval metrics, by design; orbax's warning about it
  ('Requested `tracked_metric`; did not provide metrics.') read like a fault."""
  messages = []

  class Catch(py_logging.Handler):
    def emit(self, record):
      messages.append(record.getMessage())

  catch = Catch()
  logging.get_absl_logger().addHandler(catch)
  try:
    with checkpoint.Checkpoints(str(tmp_path / 'ckpt')) as ckpts:
      ckpts.save(1, {'w': np.zeros(2)}, {'epoch': 0})
      logging.warning('Requested `tracked_metric`; did not provide metrics.')  # still shown
  finally:
    logging.get_absl_logger().removeHandler(catch)
  assert messages.count('Requested `tracked_metric`; did not provide metrics.') == 1
