"""One job at a time in a workdir: a second one started there stops in one line.

The lock is an `flock` on `<workdir>/.lock`, held by the job's process while it runs:
the OS releases it when that process ends, however it ends (SIGKILL, a crash), so no
stale lock outlives a run, and no one has to delete it. Taken again inside the same
process (a demo's job, then its stages' jobs in their own folders) it is simply held.

Multi-host: process 0 holds it for the job. The other processes write nothing in the
workdir but their share of the checkpoints (orbax writes them collectively), and a
second job's process 0 is refused before its processes train.
"""
import contextlib
import fcntl
import os

import jax

LOCK = '.lock'
_held = set()  # lock files this process holds


class InUse(OSError):
  """The workdir is another job's while it runs."""


@contextlib.contextmanager
def locked(workdir: str):
  """Holds `workdir`'s lock for the `with` block; raises InUse if another process has it."""
  path = os.path.join(os.path.abspath(workdir), LOCK)
  if path in _held or jax.process_index() != 0:
    yield
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = os.read(fd, 32).decode(errors='replace').strip() or 'unknown'
    os.close(fd)
    raise InUse(f'workdir {os.path.dirname(path)} is in use by another job (process '
                f'{holder}): wait for it to end, or choose another --workdir.') from None
  os.ftruncate(fd, 0)
  os.write(fd, f'{os.getpid()}\n'.encode())
  _held.add(path)
  try:
    yield
  finally:
    _held.discard(path)
    os.close(fd)  # releases the lock; the file stays, harmless without it
