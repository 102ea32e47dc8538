"""One process of a multi-host run on this machine (tests/train/test_multihost.py).

  python -m tests.train.multihost_worker --coordinator 127.0.0.1:PORT --num_processes 2 \
      --process_id P --workdir DIR --out DIR [--epochs 2] [--kill_after_epoch 1]

Starts `jax.distributed` (CPU, gloo collectives) and runs `train_and_evaluate` on the
tiny config, as `main.py --distributed` would; --num_processes 1 runs the same without
`jax.distributed` (the test's reference). It records, for the test to check:
- the (epoch, position, record) of every train example and every eval index it loaded;
- every file it opened for writing inside the workdir (outside the checkpoints);
- the final params (out/params_P.npz).
--kill_after_epoch e SIGKILLs the process once epoch e's checkpoint and record are written;
--term_after_batches n: process --term_process alone gets SIGTERM after n train batches.
"""
import argparse
import builtins
import json
import os
import signal
import sys

import jax


def _record_writes(workdir, log):
  real_open = builtins.open

  def logging_open(file, mode='r', *args, **kwargs):
    path = os.path.abspath(str(file)) if isinstance(file, (str, os.PathLike)) else ''
    if any(c in mode for c in 'wax+') and path.startswith(workdir + os.sep):
      log.append(os.path.relpath(path, workdir))
    return real_open(file, mode, *args, **kwargs)

  builtins.open = logging_open


def _record_reads(pipeline, train_log, eval_log):
  train_call, eval_call = pipeline._Train.__call__, pipeline._Eval.__call__

  def train(self, item):
    record, (_, epoch, pos) = item
    train_log.append((epoch, pos, record))
    return train_call(self, item)

  def evaluate(self, index):
    eval_log.append(int(index))
    return eval_call(self, index)

  pipeline._Train.__call__, pipeline._Eval.__call__ = train, evaluate


def _kill_after(checkpoint, metrics, epoch):
  """SIGKILL once epoch `epoch` is on disk: its checkpoint and its metrics record."""
  save, write = checkpoint.Checkpoints.save, metrics.Writer.epoch
  latest = []

  def save_and_remember(self, *args, **kwargs):
    latest[:] = [self]
    return save(self, *args, **kwargs)

  def write_then_kill(self, record):
    write(self, record)
    if record['epoch'] == epoch:
      latest[0].manager.wait_until_finished()
      os.kill(os.getpid(), signal.SIGKILL)

  checkpoint.Checkpoints.save, metrics.Writer.epoch = save_and_remember, write_then_kill


def _term_after(pipeline, batches):
  """This process alone sends itself SIGTERM after `batches` train batches."""
  make = pipeline.make_train_iter

  def make_and_interrupt(*args, **kwargs):
    for i, batch in enumerate(make(*args, **kwargs)):
      if i == batches:
        signal.raise_signal(signal.SIGTERM)
      yield batch

  pipeline.make_train_iter = make_and_interrupt


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--coordinator', default='')
  p.add_argument('--num_processes', type=int, required=True)
  p.add_argument('--process_id', type=int, required=True)
  p.add_argument('--workdir', required=True)
  p.add_argument('--out', required=True)
  p.add_argument('--epochs', type=int, default=2)
  p.add_argument('--parallel', default='pmap')
  p.add_argument('--kill_after_epoch', type=int, default=0)
  p.add_argument('--term_after_batches', type=int, default=-1)
  p.add_argument('--term_process', type=int, default=1)
  args = p.parse_args()
  if args.num_processes > 1:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               initialization_timeout=60)
  # Imported after initialize, as main.py does: nothing may touch a backend before it.
  from adafilter_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  from adafilter_jax.train import checkpoint, loop, metrics  # pylint: disable=g-import-not-at-top
  from tests.train import tiny  # pylint: disable=g-import-not-at-top

  workdir = os.path.abspath(args.workdir)
  writes, train_log, eval_log = [], [], []
  _record_writes(workdir, writes)
  _record_reads(pipeline, train_log, eval_log)
  if args.kill_after_epoch:
    _kill_after(checkpoint, metrics, args.kill_after_epoch)
  if args.term_after_batches >= 0 and args.process_id == args.term_process:
    _term_after(pipeline, args.term_after_batches)
  config = tiny.config(epochs=args.epochs, parallel=args.parallel)
  try:
    state = loop.train_and_evaluate(config, workdir)
  except loop.Interrupted as e:  # as main.py exits
    print(f'interrupted at step {e.step}', flush=True)
    sys.exit(128 + e.signum)
  pid = jax.process_index()
  flat = {'/'.join(str(getattr(k, 'key', k)) for k in path): leaf
          for path, leaf in jax.tree_util.tree_leaves_with_path(state.params)}
  os.makedirs(args.out, exist_ok=True)
  import numpy as np  # pylint: disable=g-import-not-at-top
  np.savez(os.path.join(args.out, f'params_{pid}.npz'), **flat)
  with open(os.path.join(args.out, f'log_{pid}.json'), 'w') as f:
    json.dump({'process_index': pid, 'process_count': jax.process_count(),
               'device_count': jax.device_count(), 'writes': sorted(set(writes)),
               'train': train_log, 'eval': eval_log}, f)
  if args.num_processes > 1:
    jax.distributed.shutdown()


if __name__ == '__main__':
  main()
