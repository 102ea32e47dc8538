"""The test session's shared set-up. The tests compile the same tiny models many times
(and subprocesses compile them again): XLA's persistent compilation cache turns every
repeat, within a session, across its workers and in later sessions, into a cache hit.

Most of a first session's time is XLA compiling (to CPU code that then runs for
milliseconds): LLVM's optimisation passes are skipped, and fusions are emitted by XLA's
older loop emitters, which compile the tiny models' train steps in less than half the
time of the newer MLIR ones (`TEST_XLA_FLAGS`), for this process and, through the
environment, for the subprocesses it starts. The computations are the same; only the
machine code emitted for them differs (its float results may differ in the last bits, as
between two CPUs)."""
import os
import tempfile

import filelock
import pytest

TEST_XLA_FLAGS = '--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false'
# Read when jax first creates its CPU backend, which no import does.
os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

# Through the environment too: the subprocesses the tests start (main.py, the multi-host
# and fake-device checks) read and fill the same cache. Every compilation is kept, however
# short: the tests build the same small steps again in every run they start.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      os.path.join(tempfile.gettempdir(), 'adafilter_test_jax_cache'))
os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
jax.config.update('jax_compilation_cache_dir', os.environ['JAX_COMPILATION_CACHE_DIR'])
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)


@pytest.fixture(scope='session', autouse=True)
def digits_prepared():
  """The offline digits, which most tests read, prepared once: the test command runs on two
  workers (pytest-xdist), and a lock makes the first prepare them while the other waits."""
  from adafilter_jax.data import prepare  # pylint: disable=g-import-not-at-top
  from tests import tiny_config  # pylint: disable=g-import-not-at-top
  os.makedirs(tiny_config.DATA_DIR, exist_ok=True)
  with filelock.FileLock(os.path.join(tiny_config.DATA_DIR, '.prepare.lock')):
    prepare.prepare('digits', data_dir=tiny_config.DATA_DIR)


# The files that take longest (CPU seconds on an empty compilation cache: every file of
# 12 s or more, measured per test over a whole run of the test command, issue 32,
# item 18), run first: the two workers take whole files in collection order
# (pyproject.toml: --no-loadscope-reorder), and a long file taken last leaves one
# worker running alone.
LONGEST_FIRST = (
    'tests/train/test_multihost.py', 'tests/train/test_loop.py',
    'tests/inference/test_evaluate.py', 'tests/models/test_gated_variants.py',
    'tests/models/test_adafilter.py', 'tests/methods/test_tllib_grid.py',
    'tests/train/test_own_model.py', 'tests/models/test_transform.py',
    'tests/apps/test_install.py', 'tests/train/test_parallel.py',
    'tests/systems/selective/test_rounds.py', 'tests/train/test_memory.py',
    'tests/methods/test_reproduce.py', 'tests/models/test_lean_models.py',
    'tests/train/test_faults.py', 'tests/models/test_lean.py', 'tests/models/test_cnn_gate.py',
    'tests/apps/test_decathlon_grid.py', 'tests/train/test_checks.py',
    'tests/train/test_logging.py', 'tests/inference/test_export.py',
    'tests/methods/test_resnet26_methods.py', 'tests/models/test_own_model_docs.py',
    'tests/models/test_transform_resnet.py', 'tests/methods/test_spottune.py',
    'tests/systems/selective/test_multihost.py', 'tests/models/test_convert.py',
    'tests/train/test_demo.py', 'tests/methods/test_spottune_baselines.py',
)


def pytest_collection_modifyitems(items):
  rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.nodeid.split('::')[0], len(rank)))
