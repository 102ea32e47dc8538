"""A trained model back from its workdir, and its inference function.

Shared by `evaluate` (the eval split again), `predict` (new images) and `export`
(StableHLO): each restores the run's config (``config.json``), builds the model through
the method registry, restores the best or the latest checkpoint, and runs one function
from uint8 images to logits and, for a gated model, the per-image fraction of
fine-tuned filters overall and per stage.
"""
import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections

from adafilter_jax import methods
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps as steps_lib

CHECKPOINTS = ('best', 'latest')
# What evaluation may change of a run's config: where the data is and how it is read and
# batched, and how the same variables are computed (tested equal). Any other field
# would evaluate another model than the one trained.
EVAL_FIELDS = ('eval_batch_size', 'data.data_dir', 'data.manual_dir', 'data.eval_split',
               'data.num_workers', 'data.prefetch_batches', 'data.skip_corrupt', 'parallel',
               'progress_bar', 'log_every_steps', 'model.conv_impl', 'adafilter.eval_impl')


@dataclasses.dataclass
class Restored:
  """What a workdir holds, ready for inference."""
  config: ml_collections.ConfigDict
  model: Any
  variables: Dict[str, Any]   # {'params', 'batch_stats'} on the host
  meta: Dict[str, Any]        # the checkpoint's record: epoch, best so far, head size
  step: int
  widths: Dict[str, int]      # gated layer -> its decisions per image, in forward order

  @property
  def layers(self) -> List[str]:
    """Gated layers in forward order ([] for a plain model)."""
    return list(self.widths)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run was trained with, from ``workdir/config.json``."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    runs = [os.path.join(workdir, d) for d in sorted(os.listdir(workdir))
            if os.path.isfile(os.path.join(workdir, d, 'config.json'))
            ] if os.path.isdir(workdir) else []
    hint = f' It holds the runs {", ".join(runs)}: give one of them.' if runs else ''
    raise FileNotFoundError(f'{path} not found: is {workdir} the workdir of a training '
                            f'run?{hint}')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def eval_config(saved: ml_collections.ConfigDict, overrides: Mapping[str, Any],
                workdir: str) -> ml_collections.ConfigDict:
  """The run's `saved` config with `overrides` (flat ``'data.data_dir': value``) applied.

  An override of a field in EVAL_FIELDS is applied; one that equals the saved value
  changes nothing; any other would build or feed another model than the one trained
  (and fail to restore it, in orbax's words): every such field is named."""
  config = saved.copy_and_resolve_references()
  wrong = []
  for key, value in overrides.items():
    if key in EVAL_FIELDS:
      continue
    trained = _get(config, key)
    if _plain(trained) != _plain(value):
      wrong.append(f'config.{key}={value!r}: the run in {workdir} was trained with {trained!r}')
  if wrong:
    raise ValueError('; '.join(wrong) + '. Evaluation builds the model from the run\'s '
                     'config.json; a config given beside it may change only '
                     f'{", ".join(EVAL_FIELDS)}.')
  with config.unlocked():
    for key, value in overrides.items():
      if key in EVAL_FIELDS:
        parent, _, leaf = key.rpartition('.')
        (_get(config, parent) if parent else config)[leaf] = value
  return config


def _get(config, key: str):
  node = config
  for part in key.split('.'):
    node = node[part] if isinstance(node, ml_collections.ConfigDict) and part in node else None
  return node


def _plain(value):
  """JSON's view of a value: config.json holds lists where the config had tuples."""
  return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def checkpoint_step(ckpts: checkpoint_lib.Checkpoints, which: str, workdir: str) -> int:
  """The step of the `which` ('best' | 'latest') checkpoint; a clear error if none."""
  if which not in CHECKPOINTS:
    raise ValueError(f'checkpoint must be one of {CHECKPOINTS}, got {which!r}')
  step = ckpts.best_step() if which == 'best' else ckpts.latest_step()
  if step is None:
    # An interrupted first epoch leaves only a checkpoint without eval metrics.
    hint = " (none finished an epoch yet: use 'latest')" if which == 'best' else ''
    raise FileNotFoundError(f'no {which} checkpoint in {workdir}/checkpoints{hint}.')
  return step


def restore(workdir: str, which: str = 'best', overrides: Optional[Mapping[str, Any]] = None,
            **model_overrides) -> Restored:
  """The model and variables of `workdir`'s `which` checkpoint.

  The model is built from the run's own config (``config.json``), with `overrides`
  applied as `eval_config` allows; `model_overrides` set ``config.adafilter`` fields
  that change how the same variables are computed (``eval_impl='fused_all'``).
  """
  workdir = os.path.abspath(workdir)
  config = eval_config(load_config(workdir), overrides or {}, workdir)
  with config.unlocked():
    config.adafilter.update(model_overrides)
  ckpts = checkpoint_lib.Checkpoints(os.path.join(workdir, 'checkpoints'))
  try:
    step = checkpoint_step(ckpts, which, workdir)
    meta = ckpts.restore_meta(step)
    method = methods.get(config.method)
    model = method.build_model(config, meta['num_classes'], None)
    size = config.data.image_size
    # The optimizer's state is part of the checkpoint: restore it whole, keep the model.
    state, meta = ckpts.restore(state_lib.state_template(method, model, config, 1), step)
  finally:
    ckpts.close()
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  widths = steps_lib.gate_widths(model, variables, (1, size, size, 3))
  logging.info('restored the %s checkpoint (step %d, epoch %d) of %s', which, step,
               meta['epoch'], workdir)
  return Restored(config, model, variables, meta, step, widths)


def stages(layers: Sequence[str]) -> List[Tuple[str, List[str]]]:
  """Gated layers grouped by ResNet stage, in forward order: 'stem' (conv1), 'layer1'..."""
  out: Dict[str, List[str]] = {}
  for name in layers:
    head = name.split('/')[0]
    out.setdefault(head.split('_')[0] if head.startswith('layer') else 'stem', []).append(name)
  return list(out.items())


def make_infer_fn(model, data_config, layers: Sequence[str]):
  """(variables, uint8 images [B,H,W,3]) -> {'logits' [B,K]} and, for a gated model,
  'fraction' [B] (fine-tuned filters over all gated layers) and 'stage_fraction' [B,S]
  (per stage of `stages(layers)`), each the share of filters whose gate picked F."""
  groups = stages(layers)

  def infer(variables, images):
    # The random-policy gate samples at test time too: a fixed key keeps it reproducible.
    logits, gates = model.apply(variables, steps_lib.normalize(images, data_config),
                                train=False, rngs={'gate': jax.random.key(0)})
    out = {'logits': logits}
    if layers:
      cat = lambda names: jnp.concatenate([gates[n].astype(jnp.float32) for n in names], -1)
      out['fraction'] = cat(layers).mean(-1)
      out['stage_fraction'] = jnp.stack([cat(names).mean(-1) for _, names in groups], -1)
    return out

  return infer


def class_names(config, num_classes: int) -> List[str]:
  """The dataset's class names, or '0'..'K-1' when its metadata cannot be read here."""
  try:
    from adafilter_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    names = list(pipeline.load_dataset_info(config.data).class_names)
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('class names of %s not found (%r): using class indices.',
                    config.data.name, e)
    return [str(i) for i in range(num_classes)]
  if len(names) != num_classes:
    raise ValueError(f'{config.data.name} has {len(names)} classes, the model {num_classes}.')
  return names
