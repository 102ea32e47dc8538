"""Trains and evaluates one config: ``python main.py --config configs/caltech256_30.py``.

Override any field with ``--config.key=value``; ``--workdir`` defaults to
runs/<config name>/<method>/seed_<seed> (the experiments grid's layout; the demo:
runs/demo), and rerunning the same command resumes from its checkpoint. What runs is
the config's job: ``config.job='demo'`` (configs/demo.py) runs the demo's stages; any
other config trains its method (adafilter_jax/apps/jobs.py: the training loop, or the
runner of a method that trains in rounds of its own).
Multi-host: ``--distributed`` on every host (docs/training.md).
``--mode=eval --workdir RUN`` evaluates a run again with its own model (its config.json;
``python main.py --config configs/demo.py --mode=eval --workdir runs/demo/adafilter``).
A user's mistake is one message and exit status 1 (ADAFILTER_TRACEBACK=1 or
``--verbosity=1``: the traceback).
"""
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from adafilter_jax.apps import evaluate
from adafilter_jax.apps import experiments
from adafilter_jax.apps import jobs
from adafilter_jax.apps.demos import digits
from adafilter_jax.apps.demos import selective as selective_demo
from adafilter_jax.data import logs
from adafilter_jax.data import cli_errors
from adafilter_jax.train import command_line
from adafilter_jax.train import loop
from adafilter_jax.train import parallel

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Training config file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Checkpoints, metrics and summary; by default '
                    'runs/<config name>/<method>/seed_<seed> (the demo: runs/demo).')
flags.DEFINE_bool('distributed', False, 'Multi-host: join the other processes first '
                  '(jax.distributed; docs/training.md).')
flags.DEFINE_enum('mode', 'train', ['train', 'eval'], 'train (and evaluate every epoch), or '
                  'eval: evaluate the workdir\'s checkpoint again, with the model of its own '
                  'config.json (adafilter_jax/apps/evaluate.py).')
flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'], '--mode=eval: which checkpoint.')
flags.DEFINE_string('split', None, "--mode=eval: a prepared split, or 'heldout' "
                    '(default: the eval split).')
flags.mark_flags_as_required(['config'])


def job_for(config, name: str):
  """(the function to run, its default workdir) for `config`: the demo's stages, or
  the config's method (its own runner if it has one, else the training loop)."""
  job = config.get('job', 'train')  # only configs with a job of their own set it
  demos = {'demo': digits.run, 'selective_demo': selective_demo.run}
  if job != 'train' and job not in demos:
    raise app.UsageError(f"unknown config.job {job!r}; expected 'train' or one of "
                         f'{sorted(demos)}.')
  if job in demos:  # a demo runs its stages in subdirectories of its own
    return demos[job], os.path.join('runs', name)
  # One directory per method and seed, so the baselines and seeds of a config never
  # meet in one checkpoint directory.
  workdir = experiments.workdir_for('runs', name, config.method, config.seed)
  return jobs.runner(config.method), workdir


def main(argv):
  logs.quiet_libraries(None)  # the verbosity is --verbosity's
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if FLAGS.distributed:
    parallel.initialize_distributed()
  try:
    _run(FLAGS.config)
  except cli_errors.USER_ERRORS as e:  # the user's to mend: a key, a value, a file
    sys.exit(cli_errors.report(e))
  except loop.Interrupted as e:
    logging.warning('%s', e)
    sys.exit(128 + e.signum)


def _run(config):
  name = config.name or os.path.splitext(os.path.basename(
      config_flags.get_config_filename(FLAGS['config'])))[0]
  run, workdir = job_for(config, name)
  workdir = FLAGS.workdir or workdir
  logging.info('config %s, workdir %s, %d devices on %d hosts.', name, workdir,
               jax.device_count(), jax.process_count())
  if FLAGS.mode == 'eval':
    # The model is the run's own (its config.json): of the config given here only the
    # fields named on the command line count, and only those evaluation may change.
    overrides = config_flags.get_override_values(FLAGS['config'])
    print(evaluate.format_record(evaluate.evaluate_and_report(workdir, FLAGS.checkpoint,
                                                              FLAGS.split, overrides)))
    return
  run(config, workdir)
  if config.get('job', 'train') == 'train':  # a demo prints its own table
    print(jobs.final_summary(workdir), flush=True)


def run():
  """The `adafilter-train` console command (pyproject.toml)."""
  # absl's --help lists the flags of the module named by argv[0]: under a console script
  # that is the script's path, where no flag is defined.
  sys.argv[0] = __name__
  app.run(main, flags_parser=command_line.parse_flags)


if __name__ == '__main__':
  run()
