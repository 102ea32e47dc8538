"""A check module run in a subprocess on N fake CPU devices: XLA_FLAGS must be set
before jax is imported, so pmap/jit-vs-one-device checks cannot run in the test process.
The module prints a JSON report as its last line."""
import json
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def xla_flags(devices: int) -> str:
  """The session's XLA flags (conftest.py) and `devices` CPU devices, for a subprocess."""
  return f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"


def run_check(module: str, devices: int = 2, timeout: int = 600, **env) -> dict:
  # The session's compilation cache comes through the environment (conftest.py).
  defaults = dict(XLA_FLAGS=xla_flags(devices), JAX_PLATFORMS='cpu', PYTHONPATH=ROOT)
  env = {**os.environ, **defaults, **env}
  proc = subprocess.run([sys.executable, '-m', module], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])
