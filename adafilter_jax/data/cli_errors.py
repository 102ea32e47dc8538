"""How every command reports a user's mistake: one message, exit status 1, no traceback.

A config key or value, a missing file or dataset, a wrong workdir: the message names it,
and thirty lines of traceback above it would only bury it. For a bug report the
traceback is one switch away: ``ADAFILTER_TRACEBACK=1`` in the environment, or absl's
``--verbosity=1`` (main.py). Here, on the lowest floor, because every command uses it:
main.py, prepare, convert, evaluate, predict, export, report.
"""
import os
import sys

# ValueError: a value, a key, a split, a shape; OSError: a file, a folder, a workdir.
USER_ERRORS = (ValueError, OSError)
TRACEBACK_ENV = 'ADAFILTER_TRACEBACK'


def traceback_wanted() -> bool:
  if os.environ.get(TRACEBACK_ENV, '') not in ('', '0'):
    return True
  from absl import logging  # pylint: disable=g-import-not-at-top
  return logging.get_verbosity() >= 1  # absl's DEBUG: --verbosity=1 and above


def report(error: BaseException) -> int:
  """Prints `error` as the user's message and returns the exit status (1); raises it
  again, traceback and all, when `traceback_wanted()`."""
  if traceback_wanted():
    raise error
  print(f'error: {error}', file=sys.stderr)
  print(f'({TRACEBACK_ENV}=1 shows where it was raised.)', file=sys.stderr)
  return 1
