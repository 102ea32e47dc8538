"""SpotTune global-k, between its two steps: which k blocks the trained policy fine-tunes
most on the TRAINING images (the fixed model is chosen on the data it trains on, never
on the evaluation split it is scored on).

v_l is measured in one pass over the training split in eval mode: the run's final
params, the policy's argmax (no Gumbel noise), the evaluation transform (no augmentation),
so every training image counts once and the result is deterministic. It is written to
``<workdir>/train_policy_usage.json`` and read back from there.
"""
import json
import os
from typing import Dict

import jax

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.models import spottune
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps as steps_lib

USAGE = 'train_policy_usage.json'


def _final_state(config, workdir, method, model):
  """The run's latest checkpoint."""
  ckpts = checkpoint_lib.Checkpoints(os.path.join(workdir, 'checkpoints'))
  try:
    if ckpts.latest_step() is None:
      raise FileNotFoundError(f'{workdir} holds no checkpoint of the global-k run')
    state, _ = ckpts.restore(state_lib.state_template(method, model, config, 1))
  finally:
    ckpts.close()
  return state


def measure(config, workdir) -> Dict[str, float]:
  """{block: fraction of the training images whose policy fine-tunes it}, forward order."""
  strategy = parallel_lib.Parallel(config.parallel)
  info = pipeline.load_dataset_info(config.data)
  method = methods.get(config.method)
  model = method.build_model(config, info.num_classes, strategy.bn_axis_name)
  state = strategy.put_state(_final_state(config, workdir, method, model))
  eval_step = strategy.eval_step(steps_lib.make_eval_step(config, strategy.bn_axis_name))
  train_split, _ = pipeline.splits(config.data)
  total, count = 0.0, 0
  for batch in pipeline.make_eval_iter(config.data, global_batch_size=config.eval_batch_size,
                                       split=train_split):
    out = strategy.get_outputs(eval_step(state, strategy.put_batch(batch), jax.random.key(0)))
    keep = out['mask'].astype(bool)
    total = total + out['layer_fraction'][keep].sum(0)
    count += int(keep.sum())
  if count != info.num_train:
    raise RuntimeError(f'the pass over {train_split} saw {count} of {info.num_train} images')
  return dict(zip(spottune.block_names(config.model.arch), map(float, total / count)))


def usage(config, workdir) -> Dict[str, float]:
  """`measure`'s result, computed once per run and kept in its workdir."""
  path = os.path.join(workdir, USAGE)
  if not os.path.isfile(path):
    fractions = measure(config, workdir)
    if jax.process_index() == 0:
      with open(path + '.tmp', 'w') as f:
        json.dump(fractions, f, indent=2)
      os.replace(path + '.tmp', path)
    return fractions
  with open(path) as f:
    return json.load(f)


def blocks(config, workdir, k: int) -> str:
  """The global-k policy, comma-separated: the k blocks of largest training-split v_l."""
  return ','.join(spottune.global_policy(usage(config, workdir), k))


def fixed_overrides(config, global_k_config, workdir) -> list:
  """The spottune_fixed recipe's overrides from the finished global-k run in `workdir`
  (None while it is missing or unfinished): its blocks, unless `config` names them."""
  if config.spottune.blocks:
    return []
  if workdir is None:
    raise FileNotFoundError('spottune_fixed needs the finished spottune_global_k run of the '
                            'same dataset and seed: put spottune_global_k before it in '
                            '--methods.')
  return [f'spottune.blocks={blocks(global_k_config, workdir, global_k_config.spottune.k)}']
