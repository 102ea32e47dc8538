"""The test session's shared set-up. The tests compile the same tiny models many times
(and subprocesses compile them again): XLA's persistent compilation cache turns every
repeat, within a session, across its workers and in later sessions, into a cache hit.

Most of a first session's time is XLA compiling (to CPU code that then runs for
milliseconds): LLVM's optimisation passes are skipped (`TEST_XLA_FLAGS`) for this process
and, through the environment, for the subprocesses it starts. The computations are the
same; only the machine code emitted for them is less optimised (its float results may
differ in the last bits, as between two CPUs)."""
import os
import tempfile

import filelock
import pytest

TEST_XLA_FLAGS = '--xla_backend_optimization_level=0'
# Read when jax first creates its CPU backend, which no import does.
os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_compilation_cache_dir',
                  os.path.join(tempfile.gettempdir(), 'adafilter_test_jax_cache'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)


@pytest.fixture(scope='session', autouse=True)
def digits_prepared():
  """The offline digits, which most tests read, prepared once: the test command runs on two
  workers (pytest-xdist), and a lock makes the first prepare them while the other waits."""
  from adafilter_jax.data import prepare  # pylint: disable=g-import-not-at-top
  from tests.train import tiny  # pylint: disable=g-import-not-at-top
  os.makedirs(tiny.DATA_DIR, exist_ok=True)
  with filelock.FileLock(os.path.join(tiny.DATA_DIR, '.prepare.lock')):
    prepare.prepare('digits', data_dir=tiny.DATA_DIR)
