"""The offline selective-joint demo (configs/selective_demo.py), minutes on a CPU.

1. Pretrain a small ResNet on the source task (digits 0-4) as the offline demo does
   (apps/demos/digits.py), standing in for ImageNet weights; its stem is also the CNN bank.
2. Retrieve, for each of the 50 target training images (digits 5-9, 10 per class), its
   nearest source images; the index is cached and shared by the runs below.
3. Train each of `selective_demo.modes` from the same weights with the same schedule:
   selective joint fine-tuning, no source (plain fine-tuning), a random source subset as
   large as the selected one, the whole source. Print mean class accuracy per round.
"""
import json
import os

from adafilter_jax.apps import jobs
from adafilter_jax.apps.demos import digits
from adafilter_jax.systems.selective import run as run_lib
from adafilter_jax.train import lock
from adafilter_jax.weights import pretrained


def mode_config(config, mode: str, weights: str):
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.pretrained, c.name = weights, f'{config.name}_{mode}'
    c.selective.source_mode = mode
  return c


def run(config, workdir: str) -> dict:
  workdir = os.path.abspath(workdir)
  digits.check_workdir(config, workdir)
  with lock.locked(workdir):  # one demo at a time in it
    return _run_modes(config, workdir)


def _run_modes(config, workdir: str) -> dict:
  weights = os.path.join(workdir, 'source_weights')
  if not os.path.isdir(weights):
    state = jobs.train(digits.source_config(config), os.path.join(workdir, 'source'))
    pretrained.save({'params': state.params, 'batch_stats': state.batch_stats}, weights)
  summaries = {m: run_lib.run(mode_config(config, m, weights), os.path.join(workdir, m))
               for m in config.selective_demo.modes}
  lines = [f'target {config.data.name} ({config.selective.rounds} rounds of '
           f'{config.selective.iterations} updates), source {config.selective.source.name}, '
           f'{config.selective.bank} bank: test mean class accuracy per round | ensemble']
  for m, s in summaries.items():
    per_round = ' '.join(f'{a:.2%}' for a in s['mean_class_acc_per_round'])
    lines.append(f'  {m:<10s} {per_round} | {s["ensemble_mean_class_acc"]:.2%}  '
                 f'(source images per round: {s["source_images_per_round"]})')
  lines.append(f'neighbours: {os.path.join(workdir, "selective", "neighbours.png")}')
  print('\n'.join(lines), flush=True)
  with open(os.path.join(workdir, 'results.json'), 'w') as f:
    json.dump(summaries, f, indent=1)
  return summaries
