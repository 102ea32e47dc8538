"""Trains and evaluates one config: ``python main.py --config configs/caltech256_30.py``.

Override any field with ``--config.key=value``; ``--workdir`` defaults to
runs/<config name>/<method>/seed_<seed> (the experiments grid's layout; the demo:
runs/demo), and rerunning the same command resumes from its checkpoint.
Multi-host: ``--distributed`` on every host (docs/training.md).
"""
import logging as py_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from adafilter_jax import experiments
from adafilter_jax.train import Interrupted, train_and_evaluate
from adafilter_jax.train import checks, demo, parallel

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Training config file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Checkpoints, metrics and summary; by default '
                    'runs/<config name>/<method>/seed_<seed> (the demo: runs/demo).')
flags.DEFINE_bool('distributed', False, 'Multi-host: join the other processes first '
                  '(jax.distributed; docs/training.md).')
flags.mark_flags_as_required(['config'])


class _QuietLibraries(py_logging.Filter):
  """INFO from this project only: orbax and TFDS log every checkpoint step at INFO."""

  here = os.path.dirname(os.path.abspath(__file__))

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or record.pathname.startswith(self.here)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if FLAGS.distributed:
    parallel.initialize_distributed()
  config = FLAGS.config
  name = config.name or os.path.splitext(os.path.basename(
      config_flags.get_config_filename(FLAGS['config'])))[0]
  is_demo = 'demo' in config  # the demo runs its stages in subdirectories of its own
  if FLAGS.workdir:
    workdir = FLAGS.workdir
  elif is_demo:
    workdir = os.path.join('runs', name)
  else:
    # One directory per method and seed, so the baselines and seeds of a config never
    # meet in one checkpoint directory.
    workdir = experiments.workdir_for('runs', name, config.method, config.seed)
  logging.info('config %s, workdir %s, %d devices on %d hosts.', name, workdir,
               jax.device_count(), jax.process_count())
  run = demo.run if is_demo else train_and_evaluate
  try:
    run(config, workdir)
  except Interrupted as e:
    logging.warning('%s', e)
    sys.exit(128 + e.signum)


if __name__ == '__main__':
  app.run(main, flags_parser=checks.parse_flags)
