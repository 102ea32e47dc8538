"""One process of a multi-host run on this machine (tests/train/test_multihost.py).

  python -m tests.train.multihost_worker --coordinator 127.0.0.1:PORT --num_processes 2 \
      --process_id P --workdir DIR --out DIR [--epochs 2] [--kill_after_epoch 1]

Joins the others with `parallel.initialize_distributed` (what `main.py --distributed`
calls; JAX_* variables; CPU collectives over gloo) and runs `train_and_evaluate` on the
tiny config; --num_processes 1 runs the same alone (the test's reference). It records,
for the test to check:
- the (epoch, position, record) of every train example and every eval index it loaded;
- every file it opened for writing inside the workdir (outside the checkpoints);
- the final params (out/params_P.npz).
--kill_after_epoch e SIGKILLs the process once epoch e's checkpoint and record are written;
--term_after_batches n: process --term_process alone gets SIGTERM after n train batches.
"""
import json
import os
import signal
import sys
import time

import jax
from jax.experimental import multihost_utils
import numpy as np
import pytest

from adafilter_jax.data import pipeline
from adafilter_jax.train import checkpoint, loop
from tests import multihost
from tests import tiny_config
from tests.train import runs


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


def _kill_after(checkpoint, epoch):
  """SIGKILL once epoch `epoch` is on disk: its metrics record (written first), then its
  checkpoint."""
  save = checkpoint.Checkpoints.save

  def save_then_kill(self, step, state, meta, metrics=None):
    save(self, step, state, meta, metrics)
    if metrics is not None and meta['epoch'] == epoch:
      self.manager.wait_until_finished()
      # Every process past its save, then the leader last: it hosts the coordination
      # service, whose loss makes the others' clients abort (SIGABRT) before their own
      # SIGKILL if it goes first.
      multihost_utils.sync_global_devices(f'killed after epoch {epoch}')
      if jax.process_index() == 0:
        time.sleep(0.5)
      os.kill(os.getpid(), signal.SIGKILL)

  checkpoint.Checkpoints.save = save_then_kill


def main():
  p = multihost.worker_parser()
  p.add_argument('--epochs', type=int, default=2)
  p.add_argument('--kill_after_epoch', type=int, default=0)
  p.add_argument('--term_after_batches', type=int, default=-1)
  p.add_argument('--term_process', type=int, default=1)
  args = p.parse_args()
  multihost.join(args)

  workdir = os.path.abspath(args.workdir)
  writes, train_log, eval_log = [], [], []
  multihost.record_writes(workdir, writes)
  _record_reads(pipeline, train_log, eval_log)
  if args.kill_after_epoch:
    _kill_after(checkpoint, args.kill_after_epoch)
  if args.term_after_batches >= 0 and args.process_id == args.term_process:
    runs.interrupt_after(pytest.MonkeyPatch(), args.term_after_batches)
  config = tiny_config.config(epochs=args.epochs, parallel=args.parallel)
  try:
    state = loop.train_and_evaluate(config, workdir)
  except loop.Interrupted as e:  # as main.py exits
    print(f'interrupted at step {e.step}', flush=True)
    sys.exit(128 + e.signum)
  pid = jax.process_index()
  flat = {'/'.join(str(getattr(k, 'key', k)) for k in path): leaf
          for path, leaf in jax.tree_util.tree_leaves_with_path(state.params)}
  os.makedirs(args.out, exist_ok=True)
  np.savez(os.path.join(args.out, f'params_{pid}.npz'), **flat)
  with open(os.path.join(args.out, f'log_{pid}.json'), 'w') as f:
    json.dump({'process_index': pid, 'process_count': jax.process_count(),
               'device_count': jax.device_count(), 'writes': sorted(set(writes)),
               'train': train_log, 'eval': eval_log}, f)
  if args.num_processes > 1:
    jax.distributed.shutdown()


if __name__ == '__main__':
  main()
