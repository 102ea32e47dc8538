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

from absl import logging

from adafilter_jax import pretrained, report
from adafilter_jax.train import checks, loop


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


def run(config, workdir: str) -> dict:
  """Runs the three stages in workdir/{source,<method>...}; returns method -> summary."""
  weights = os.path.join(workdir, 'source_weights')
  checks.validate_demo(config, source_config(config),
                       [target_config(config, m, weights) for m in config.demo.methods], weights)
  if not os.path.isdir(weights):
    state = loop.train_and_evaluate(source_config(config), os.path.join(workdir, 'source'))
    pretrained.save({'params': state.params, 'batch_stats': state.batch_stats}, weights)
  summaries, run_dirs = {}, []
  for method in config.demo.methods:
    run_dir = os.path.join(workdir, method)
    run_dirs.append(run_dir)
    loop.train_and_evaluate(target_config(config, method, weights), run_dir)
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
