"""Measures how far the demo's numbers move when only the rounding changes: the check's
tolerance (check.py), measured rather than guessed.

  python -m adafilter_jax.apps.demos.spread --root /tmp/demo_spread \
      --out adafilter_jax/apps/demos/demo_spread.json

On one machine the demo is deterministic, but two CPUs print different numbers (seed 0:
70.92 / 76.36 on an AMD EPYC, 69.39 / 72.46 on an Intel Xeon). XLA:CPU's convolutions
and matrix products pick their kernels and blocking at run time from the CPU (oneDNN's
instruction-set dispatch, the thread count), so sums are rounded in another order;
`--xla_cpu_max_isa` does not reach those kernels. With 50 training images and hard gate
decisions, last-bit differences grow into a different trajectory: a run on another CPU
is a draw from a distribution, not the same number.

This command draws from it on one machine: it runs the whole demo (seed 0) once as it
is and once under each PERTURBATION, each of which changes only how sums are rounded,
the way another CPU does. The tolerance of each printed number is
`max(FLOOR, 3 x the sample std over the runs)`. About 3 min a run on the 2-core machine.
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from typing import Dict, List

from absl import app
from absl import flags
import jax

from adafilter_jax.apps.demos import check

FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DEFAULT_OUT = check.SPREAD

# name -> (environment, CPU cores): each changes the order in which XLA:CPU's kernels add.
PERTURBATIONS = {
    'as_is': ({}, None),
    'onednn_avx2': ({'ONEDNN_MAX_CPU_ISA': 'AVX2'}, None),      # oneDNN's AVX2 kernels
    'onednn_sse41': ({'ONEDNN_MAX_CPU_ISA': 'SSE41'}, None),    # oneDNN's SSE4.1 kernels
    'one_core': ({}, 1),                                        # other thread partitions
    'llvm_o0': ({'XLA_FLAGS': '--xla_backend_optimization_level=0'}, None),  # other code
}
FLOOR = 1.0  # points: 9 of the source's or target's eval images


def tolerances(printed: List[Dict[str, tuple]]) -> Dict[str, List[float]]:
  """stage or method -> [tolerance of eval top-1, of best] (the source: [top-1])."""
  out = {}
  for name in printed[0]:
    values = list(zip(*(p[name][:2] for p in printed)))
    out[name] = [round(max(FLOOR, 3 * statistics.stdev(v)), 2) for v in values]
  return out


def machine() -> str:
  model = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo')
                if line.startswith('model name')), platform.processor())
  return (f'{os.cpu_count()}-core {model}, jax {jax.__version__}, '
          f'{datetime.date.today().isoformat()}')


def run_demo(name: str, root: str) -> Dict[str, tuple]:
  env_changes, cores = PERTURBATIONS[name]
  env = dict(os.environ, **env_changes, PYTHONUNBUFFERED='1')
  cmd = [sys.executable, 'main.py', '--config', 'configs/demo.py',
         '--workdir', os.path.join(root, name), '--config.progress_bar=False']
  preexec = (lambda: os.sched_setaffinity(0, set(range(cores)))) if cores else None
  print(f'{name}: {" ".join(f"{k}={v}" for k, v in env_changes.items())} '
        f'{f"taskset -c 0-{cores - 1} " if cores else ""}{" ".join(cmd[1:])}', flush=True)
  done = subprocess.run(cmd, cwd=ROOT, env=env, preexec_fn=preexec, capture_output=True,
                        text=True, check=False)
  if done.returncode:
    raise RuntimeError(f'{name}: the demo exited {done.returncode}:\n{done.stderr[-3000:]}')
  return check.parse(done.stdout)


def main(argv):
  del argv
  runs = {}
  for name in PERTURBATIONS:
    runs[name] = run_demo(name, FLAGS.root)
    print(f'  {runs[name]}', flush=True)
  result = {'command': 'python -m adafilter_jax.apps.demos.spread',
            'machine': machine(),
            'rule': f'max({FLOOR}, 3 x sample std over the runs), per printed number',
            'runs': runs, 'tolerance': tolerances(list(runs.values()))}
  with open(FLAGS.out, 'w') as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result['tolerance']), f'\nwritten to {FLAGS.out}')


if __name__ == '__main__':
  flags.DEFINE_string('root', '/tmp/demo_spread', 'Where the demo runs are written.')
  flags.DEFINE_string('out', DEFAULT_OUT, 'The measurement, read by check.py.')
  app.run(main)
