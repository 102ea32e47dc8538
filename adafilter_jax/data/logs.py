"""What every command logs: this project's INFO, and only WARNING and above of libraries.

Orbax logs every checkpoint step at INFO (about 30 lines an evaluation) and TFDS every
read; among them the project's own lines (an epoch, a resume, a workdir) are lost.
Whether a record is the project's is decided by the module that logged it, not by its
file's folder: a virtual environment inside or beside the checkout shares its path.
Here, on the lowest floor, because every command installs it (main.py, evaluate,
predict, export, report, reproduce, experiments, study, prepare, convert).
"""
import logging as py_logging
import sys
from typing import Dict, Optional

from absl import flags
from absl import logging

PROJECT = ('adafilter_jax', 'configs')
# The command's own module: main.py, run as a script (`__main__`) or installed
# (`adafilter-train` imports it as `main`), or a `python -m adafilter_jax...` module.
ENTRY_MODULES = ('__main__', 'main')


_MODULES: Dict[str, str] = {}  # file -> module name, as records name them


def _module_of(pathname: str) -> Optional[str]:
  """The dotted name of the loaded module whose file is `pathname` (None if none is)."""
  if pathname not in _MODULES:
    for name, module in list(sys.modules.items()):
      if getattr(module, '__file__', None) == pathname:
        _MODULES[pathname] = name
        break
    else:
      return None
  return _MODULES[pathname]


def is_project(record: py_logging.LogRecord) -> bool:
  """Whether `record` was logged by this project's code. absl's records all carry the
  logger name 'absl', whoever logged them: for those the module is found by file."""
  name = _module_of(record.pathname) if record.name == 'absl' else record.name
  if not name:
    return False
  return name.split('.')[0] in PROJECT or name in ENTRY_MODULES


class QuietLibraries(py_logging.Filter):
  """Keeps WARNING and above, and the project's own records of any level."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or is_project(record)


def ensure_flags_parsed() -> None:
  """Marks absl's flags parsed where a plain script or pytest never parsed them (absl's
  handler otherwise prefixes a warning; grain's worker processes read them)."""
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


def quiet_libraries(verbosity: Optional[int] = logging.INFO) -> None:
  """Installs `QuietLibraries` on absl's handler (once), and sets absl's verbosity (None:
  leaves it, as main.py's --verbosity set it). A command without absl's app.run gets
  absl's handler too, as app.run gives it: else the first absl record installs Python's
  default one (`logging.basicConfig`), which the filter is not on."""
  ensure_flags_parsed()
  logging.use_absl_handler()
  handler = logging.get_absl_handler()
  if not any(isinstance(f, QuietLibraries) for f in handler.filters):
    handler.addFilter(QuietLibraries())
  if verbosity is not None:
    logging.set_verbosity(verbosity)
