"""One process of a multi-host selective joint run on this machine
(tests/systems/selective/test_multihost.py).

  python -m tests.systems.selective.multihost_worker --coordinator 127.0.0.1:PORT \
      --num_processes 2 --process_id P --workdir DIR --out DIR [--parallel pmap]

Joins the others as `main.py --distributed` does and runs two short rounds of joint
training and mining (run.run_rounds) on the tiny in-memory splits; --num_processes 1 runs
the same alone (the reference). Writes out/result_P.json: the rounds' records (test
softmax included), every training image it decoded as (round, step, kind, j, index),
and the files it opened for writing inside the workdir.
"""
import json
import os

import jax
import numpy as np

from adafilter_jax.systems.selective import index, joint, run
from adafilter_jax.train import parallel
from tests import multihost
from tests.systems.selective import tiny


def _record_decodes(log):
  decode = tiny.ArraySplit.train_images

  def logged(self, indices, seeds):
    log.extend((s[1], s[2], s[3], s[4], int(i)) for i, s in zip(indices, seeds))
    return decode(self, indices, seeds)

  tiny.ArraySplit.train_images = logged


def _rounds(args, workdir):
  config = tiny.config(rounds=2, iterations=2, iter_size=1, checkpoint_every=1, k0=2,
                       target_batch=4)
  config.eval_batch_size = 4
  config.parallel = args.parallel
  config.data.num_workers = 0  # threads: the decode log stays in this process
  target, test = tiny.random_split(8, 3, 0), tiny.random_split(6, 3, 1)
  source = tiny.random_split(10, 4, 2)
  neighbours = np.stack([np.random.default_rng(i).permutation(10) for i in range(8)])
  idx = index.Index(neighbours, np.zeros((8, 10)), {}, '')
  par = parallel.Parallel(config.parallel)
  model = tiny.model(bn_axis_name=par.bn_axis_name)
  variables = joint.init_joint_variables(model, tiny.SIZE, seed=0)
  return run.run_rounds(config, par, workdir, model, variables, idx, target, test, source, 3)


def main():
  args = multihost.worker_parser().parse_args()
  multihost.join(args)
  workdir = os.path.abspath(args.workdir)
  writes, decodes = [], []
  multihost.record_writes(workdir, writes)
  _record_decodes(decodes)
  records = _rounds(args, workdir)
  pid = jax.process_index()
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, f'result_{pid}.json'), 'w') as f:
    json.dump({'process_index': pid, 'process_count': jax.process_count(),
               'device_count': jax.device_count(), 'writes': sorted(set(writes)),
               'decoded': decodes,
               'records': [{**r, 'test_probs': r['test_probs'].tolist()} for r in records]}, f)
  if args.num_processes > 1:
    jax.distributed.shutdown()


if __name__ == '__main__':
  main()
