"""The offline demo (configs/demo.py): transfer learning end to end, in minutes on a CPU.

1. Pretrain a small plain ResNet from scratch on the source task (digits 0-4) and save
   it in the converter's format (pretrained.save), as ImageNet weights would be.
2. From it, train each of `config.demo.methods` on the target task (digits 5-9, a few
   images per class) with the same loop as every paper config.
3. Print each method's target accuracy, and write one report comparing them
   (workdir/report: accuracy per epoch, what AdaFilter's gate learned).
"""
import json
import os
from typing import Sequence

from absl import logging

from adafilter_jax import methods
from adafilter_jax.apps import jobs
from adafilter_jax.apps import report
from adafilter_jax.train import checks
from adafilter_jax.train import lock
from adafilter_jax.train import job as job_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.weights import pretrained

# Fields of the demo's config that its stages set themselves: an override is lost.
_SET_BY_DEMO = {
    'method': 'set config.demo.methods, the methods it trains on the target task',
    'pretrained': 'the demo starts the target task from its own source-task weights',
}


def source_config(config):
  c = config.copy_and_resolve_references()
  with c.unlocked():
    d = c.demo
    c.method, c.pretrained, c.name = 'finetune', '', f'{config.name}_source'
    c.data.name, c.num_epochs, c.optim.lr = d.source, d.source_epochs, d.source_lr
    c.optim.decay_epochs, c.batch_size = d.source_decay_epochs, d.source_batch_size
  return c


def target_config(config, method: str, weights: str):
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.method, c.pretrained, c.name = method, weights, f'{config.name}_{method}'
  return c


def validate_demo(config, source, targets: Sequence, weights: str):
  """The demo's config, its source stage and its target stages (`run`'s configs);
  `weights`: where the source weights are, or will be, written."""
  for key, why in _SET_BY_DEMO.items():
    if config[key]:
      raise ValueError(f'config.{key}={config[key]!r} is ignored by the demo: {why}.')
  names = config.demo.methods
  if isinstance(names, str) or not names:
    raise ValueError(f'config.demo.methods={names!r}: expected a tuple of methods, e.g. '
                     "('adafilter', 'finetune').")
  unknown = [m for m in names if m not in methods.names()]
  if unknown:
    raise ValueError(f'config.demo.methods={names!r}: unknown {unknown}; known methods: '
                     f'{methods.names()}')
  parallel_lib.Parallel(config.parallel).check_batch(
      config.demo.source_batch_size, 'config.demo.source_batch_size')
  checks.validate(source)
  # Weights already there are an earlier demo's: they must fit this one's models.
  saved = pretrained.load(weights) if os.path.isdir(weights) else None
  for target in targets:
    info = checks.validate(target)
    if saved is not None:
      checks.check_weights_fit(target, info.num_classes, saved, weights)


def check_workdir(config, workdir: str):
  """A demo writes its stages in folders of its own: a training run's workdir (one of a
  demo's stages, say) is refused, as training refuses another method's."""
  job_lib.check_workdir(workdir, {'method': config.job})


def run(config, workdir: str) -> dict:
  """Runs the three stages in workdir/{source,<method>...}; returns method -> summary."""
  check_workdir(config, workdir)
  weights = os.path.join(workdir, 'source_weights')
  validate_demo(config, source_config(config),
                [target_config(config, m, weights) for m in config.demo.methods], weights)
  with lock.locked(workdir):  # one demo at a time in it
    return _run_stages(config, workdir, weights)


def _run_stages(config, workdir: str, weights: str) -> dict:
  if not os.path.isdir(weights):
    state = jobs.train(source_config(config), os.path.join(workdir, 'source'))
    pretrained.save({'params': state.params, 'batch_stats': state.batch_stats}, weights)
  summaries, run_dirs = {}, []
  for method in config.demo.methods:
    run_dir = os.path.join(workdir, method)
    run_dirs.append(run_dir)
    jobs.train(target_config(config, method, weights), run_dir)
    with open(os.path.join(run_dir, 'summary.json')) as f:
      summaries[method] = json.load(f)
  with open(os.path.join(workdir, 'source', 'summary.json')) as f:
    source = json.load(f)
  lines = [f'source task ({config.demo.source}, from scratch): eval top-1 '
           f'{source["final_eval_top1"]:.2%}',
           f'target task ({config.data.name}), from the source weights:']
  lines += [f'  {m:<12s} eval top-1 {s["final_eval_top1"]:.2%}  (best {s["best_eval_top1"]:.2%}'
            f' at epoch {s["best_epoch"]})' for m, s in summaries.items()]
  lines.append(f'report: {report.write_report(run_dirs, os.path.join(workdir, "report"))}')
  print('\n'.join(lines), flush=True)
  logging.info('demo done: %s', workdir)
  return summaries
