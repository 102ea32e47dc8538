"""Multi-host tests for real: N processes on this machine joined by `jax.distributed`
(coordinator on 127.0.0.1, gloo CPU collectives). `launch` starts a worker module as N
processes; a worker parses `worker_parser()`'s arguments and calls `join(args)` before
anything touches jax's backends, as `main.py --distributed` does."""
import argparse
import builtins
import os
import socket
import subprocess
import sys


from tests import fake_devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def launch(module: str, num_processes: int, workdir, out, *extra, timeout=900):
  """Starts `module` as `num_processes` processes and waits for all; returns their exit
  codes and output. One process gets two CPU devices, each of two processes one (the
  same global device count, so the same sums in the same order)."""
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT,
             XLA_FLAGS=fake_devices.xla_flags(3 - num_processes))
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, '-m', module, '--coordinator', f'127.0.0.1:{port}',
       '--num_processes', str(num_processes), '--process_id', str(i),
       '--workdir', str(workdir), '--out', str(out), *extra],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(num_processes)]
  try:
    logs = [p.communicate(timeout=timeout)[0] for p in procs]
  finally:
    for p in procs:  # a hung collective must not outlive the test
      if p.poll() is None:
        p.kill()
        p.wait()
  return [p.returncode for p in procs], logs


def worker_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser()
  p.add_argument('--coordinator', default='')
  p.add_argument('--num_processes', type=int, required=True)
  p.add_argument('--process_id', type=int, required=True)
  p.add_argument('--workdir', required=True)
  p.add_argument('--out', required=True)
  p.add_argument('--parallel', default='pmap')
  return p


def join(args):
  """As main.py --distributed, from the documented environment variables."""
  if args.num_processes > 1:
    from adafilter_jax.train import parallel  # pylint: disable=g-import-not-at-top
    os.environ.update(JAX_COORDINATOR_ADDRESS=args.coordinator,
                      JAX_NUM_PROCESSES=str(args.num_processes),
                      JAX_PROCESS_ID=str(args.process_id))
    parallel.initialize_distributed()


def record_writes(workdir, log):
  """Logs into `log` every file a worker writes under `workdir` (opened for writing, or
  landed by os.replace), relative to it."""
  real_open = builtins.open

  def logging_open(file, mode='r', *args, **kwargs):
    path = os.path.abspath(str(file)) if isinstance(file, (str, os.PathLike)) else ''
    if any(c in mode for c in 'wax+') and path.startswith(workdir + os.sep):
      log.append(os.path.relpath(path, workdir))
    return real_open(file, mode, *args, **kwargs)

  builtins.open = logging_open
  real_replace = os.replace

  def logging_replace(src, dst, *args, **kwargs):  # atomic rewrites land by os.replace
    path = os.path.abspath(str(dst))
    if path.startswith(workdir + os.sep):
      log.append(os.path.relpath(path, workdir))
    return real_replace(src, dst, *args, **kwargs)

  os.replace = logging_replace
