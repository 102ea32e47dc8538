"""Fault injection: a real training job, killed and resumed, must end as if never killed.

  python -m adafilter_jax.apps.faults --config configs/tiny.py --kills_per_kind 20

Runs the config once without faults (the reference), then episodes of the same job in
fresh workdirs: each episode starts the job, kills it with SIGKILL or SIGTERM at a
seeded random moment — inside a train step, at an epoch boundary, during evaluation,
during a checkpoint write — and starts it again in the same workdir, until a start runs
to the end. Each episode's final params, batch statistics, optimizer state,
`metrics.jsonl`, `summary.json` and `gate_stats.npz` are compared with the reference,
bit for bit (on one CPU the job is deterministic), except the wall-time fields, which
legitimately differ: `WALL_TIME_FIELDS`. Prints one JSON line: kills survived per kind,
differences found, and exits 1 if any.

The job runs in a child process (`--fault` set by the parent), which arms the fault on
its own functions: on the chosen occurrence of a phase a timer thread sends the signal
after a seeded delay, so it lands inside the phase, as an outside kill would.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np
from ml_collections import config_flags

from adafilter_jax.data import logs
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import loop
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import parallel as parallel_lib

FLAGS = flags.FLAGS


def define_flags():
  # Defined only when run as a command, so importing faults adds no global flags.
  config_flags.DEFINE_config_file('config', None, 'The job to kill (configs/tiny.py).')
  flags.DEFINE_integer('kills_per_kind', 20, 'Stop once this many SIGKILLs and SIGTERMs '
                       'each have landed.')
  flags.DEFINE_integer('seed', 0, 'Seeds the kinds, phases and moments of the kills.')
  flags.DEFINE_string('workdir', None, 'Where the runs go (a new temporary directory by '
                      'default); must be empty or absent.')
  flags.DEFINE_string('fault', None, 'Child only: "SIGNAL,phase,occurrence,delay_s".')
  flags.DEFINE_string('run_dir', None, 'Child only: the job\'s workdir.')
  flags.mark_flags_as_required(['config'])


WALL_TIME_FIELDS = {metrics_lib.METRICS: ('images_per_sec', 'epoch_time_s'),
                    metrics_lib.SUMMARY: ('wall_time_s',)}
FINAL_STATE = 'final_state.npz'
# Per phase: the occurrences (in one process) a kill picks from, and the longest delay
# after the phase starts; a tiny job's step, eval and save each take ~10-300 ms.
PHASES = {'step': (8, 0.03), 'boundary': (2, 0.0), 'eval': (2, 0.2), 'save': (3, 0.1)}
MAX_KILLS_PER_EPISODE = 6


# -- the child: the job with one fault armed


def _arm(signum: int, phase: str, occurrence: int, delay_s: float):
  """Patches the loop so that the `occurrence`-th `phase` sends `signum` after `delay_s`."""
  seen = {'n': 0}

  def hit(name):
    if name == phase:
      if seen['n'] == occurrence:
        timer = threading.Timer(delay_s, os.kill, (os.getpid(), signum))
        timer.daemon = True  # a process that ends first is not kept alive
        timer.start()
      seen['n'] += 1

  def before(name, fn):
    def wrapped(*args, **kwargs):
      hit(name)
      return fn(*args, **kwargs)
    return wrapped

  train_step = parallel_lib.Parallel.train_step
  parallel_lib.Parallel.train_step = lambda self, *a, **k: before('step', train_step(self, *a, **k))
  loop.evaluate = before('eval', loop.evaluate)
  checkpoint_lib.Checkpoints.save = before('save', checkpoint_lib.Checkpoints.save)
  record = loop._evaluate_and_record  # pylint: disable=protected-access

  def record_then_hit(*args, **kwargs):
    out = record(*args, **kwargs)
    hit('boundary')
    return out

  loop._evaluate_and_record = record_then_hit  # pylint: disable=protected-access


def _flat(tree) -> dict:
  return {jax.tree_util.keystr(path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def child(config, run_dir: str, fault: str):
  if fault:
    name, phase, occurrence, delay = fault.split(',')
    _arm(signal.Signals[name], phase, int(occurrence), float(delay))
  try:
    state = loop.train_and_evaluate(config, run_dir)
  except loop.Interrupted as e:
    sys.exit(128 + e.signum)
  np.savez(os.path.join(run_dir, FINAL_STATE),
           **_flat({'params': state.params, 'batch_stats': state.batch_stats,
                    'opt_state': state.opt_state, 'step': state.step}))


# -- the parent: episodes of kills, then the comparison


def _config_args(argv) -> list:
  """This command's --config and --config.key overrides, for the child."""
  out, take_next = [], False
  for arg in argv:
    if take_next or arg.startswith('--config'):
      out.append(arg)
      take_next = not take_next and '=' not in arg
    else:
      take_next = False
  return out


def _start(config_args: list, run_dir: str, fault: str = '') -> subprocess.CompletedProcess:
  env = dict(os.environ)
  # Every start compiles the same steps: the persistent cache makes restarts cheap.
  env.setdefault('JAX_COMPILATION_CACHE_DIR',
                 os.path.join(os.path.dirname(run_dir), 'jax_cache'))
  cmd = [sys.executable, '-m', 'adafilter_jax.apps.faults', *config_args,
         f'--run_dir={run_dir}', f'--fault={fault}']
  return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


def _expected_exit(signum: int) -> tuple:
  # SIGTERM: 128+15 from a saved interrupt, or -15 where no handler was installed yet.
  return (-signal.SIGKILL,) if signum == signal.SIGKILL else (128 + signum, -signum)


def _episode(config_args: list, run_dir: str, rng, kills: dict, log: list):
  """Kills the job in `run_dir` until a start runs to the end (or the cap is reached)."""
  for attempt in range(MAX_KILLS_PER_EPISODE + 1):
    fault = ''
    if attempt < MAX_KILLS_PER_EPISODE:
      name = 'SIGKILL' if kills['SIGKILL'] <= kills['SIGTERM'] else 'SIGTERM'
      phase = rng.choice(sorted(PHASES))
      occurrences, max_delay = PHASES[phase]
      fault = (f'{name},{phase},{rng.integers(occurrences)},'
               f'{rng.uniform(0, max_delay):.4f}')
    proc = _start(config_args, run_dir, fault)
    if proc.returncode == 0:
      log.append(f'{run_dir}: {fault or "no fault"} -> finished')
      return
    signum = signal.Signals[fault.split(',')[0]] if fault else None
    if signum is None or proc.returncode not in _expected_exit(signum):
      raise RuntimeError(f'{run_dir}: {fault!r} exited {proc.returncode}:\n'
                         f'{proc.stderr[-3000:]}')
    kills[signum.name] += 1
    log.append(f'{run_dir}: {fault} -> killed ({proc.returncode})')


def _records(run_dir: str, name: str):
  path = os.path.join(run_dir, name)
  with open(path) as f:
    if name == metrics_lib.METRICS:
      records = [json.loads(line) for line in f]
    else:
      records = [json.load(f)]
  for r in records:
    for field in WALL_TIME_FIELDS[name]:
      r.pop(field)
  return records


def compare(reference: str, run_dir: str) -> list:
  """What differs between two finished workdirs (wall-time fields excluded)."""
  diffs = []
  for name in WALL_TIME_FIELDS:
    if _records(reference, name) != _records(run_dir, name):
      diffs.append(f'{run_dir}/{name} differs from {reference}/{name}')
  for name in (FINAL_STATE, metrics_lib.GATE_STATS):
    if not os.path.exists(os.path.join(reference, name)):
      continue
    a = np.load(os.path.join(reference, name))
    b = np.load(os.path.join(run_dir, name))
    if set(a) != set(b):
      diffs.append(f'{run_dir}/{name}: keys {sorted(set(a) ^ set(b))} differ')
    diffs += [f'{run_dir}/{name}: {k} differs' for k in sorted(set(a) & set(b))
              if a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k])]
  return diffs


def parent(config_args: list, root: str, kills_per_kind: int, seed: int) -> dict:
  """`config_args`: the child's --config and --config.key=value arguments."""
  reference = os.path.join(root, 'reference')
  proc = _start(config_args, reference)
  if proc.returncode:
    raise RuntimeError(f'the reference run failed:\n{proc.stderr[-3000:]}')
  rng = np.random.default_rng(seed)
  kills, log, diffs, episode = {'SIGKILL': 0, 'SIGTERM': 0}, [], [], 0
  while min(kills.values()) < kills_per_kind:
    run_dir = os.path.join(root, f'episode_{episode}')
    _episode(config_args, run_dir, rng, kills, log)
    logging.info('%s', log[-1])
    diffs += compare(reference, run_dir)
    episode += 1
  return {'kills_survived': kills, 'episodes': episode, 'differences': diffs,
          'starts': log}


def main(argv):
  del argv
  logs.quiet_libraries(None)
  if FLAGS.run_dir:
    return child(FLAGS.config, FLAGS.run_dir, FLAGS.fault)
  root = FLAGS.workdir or tempfile.mkdtemp(prefix='adafilter_faults_')
  if os.path.isdir(root) and os.listdir(root):
    raise app.UsageError(f'--workdir {root} is not empty.')
  result = parent(_config_args(sys.argv[1:]), os.path.abspath(root), FLAGS.kills_per_kind,
                  FLAGS.seed)
  print(json.dumps({'kills_survived': result['kills_survived'],
                    'episodes': result['episodes'],
                    'differences': len(result['differences']), 'workdir': root}))
  for line in result['differences']:
    print(line)
  return 1 if result['differences'] else 0


if __name__ == '__main__':
  define_flags()
  app.run(main)
