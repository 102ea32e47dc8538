"""The method registry: `Method`, what a method is made of, and `register`.

Kept apart from the package's ``__init__`` so that each method module imports it and the
package imports the method modules, with no import running back.
"""
import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import ml_collections

from adafilter_jax.models import transform

# Param groups, each with its own optimizer (train/optimizer.py): the backbone, the new
# head, the gate (10x the backbone's rate in the paper), and parameters never updated.
GROUPS = ('network', 'head', 'gate', 'frozen')

Path = Tuple[str, ...]


def own_head(config) -> Optional[Path]:
  """The module path of a user's own model's head (``config.own_model.head``), if any."""
  head = config.get('own_model', {}).get('head', '') if config is not None else ''
  return tuple(head.split('/')) if head else None


def default_label(path: Path) -> str:
  """The group of one param, from its path in the params tree."""
  if path[0] == 'gate':
    return 'gate'
  if path[0] == 'fc':
    return 'head'
  if 'conv_pre' in path:  # AdaFilter's frozen copy S (also stop_gradient in the model)
    return 'frozen'
  return 'network'


@dataclasses.dataclass(frozen=True)
class Stage:
  """A span of a run's epochs trained with its own optimizer, fresh at its first step.

  Attributes:
    epochs: how many epochs it lasts; None for the last stage: the rest of the run.
    trained: the groups that train; every other group is held (no gradient reaches it,
      its rate is 0).
    bn_train: False runs the model in inference mode, as a linear probe on frozen
      features: BN normalises with, and keeps, its running statistics.
    optim: overrides of ``config.optim`` for this stage (its rates, decay epochs counted
      from the stage's first epoch); not ``weight_decay``, which every stage shares.
  """
  epochs: Optional[int] = None
  trained: Tuple[str, ...] = ('network', 'head', 'gate')
  bn_train: bool = True
  optim: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Method:
  """A fine-tuning method.

  Attributes:
    name: the key of `config.method`.
    build_model: (config, num_classes, bn_axis_name) -> a linen model returning
      (logits, gates); `bn_axis_name` is the pmap axis (None under jit or one device).
    label: param path -> one of GROUPS (`labels` applies it to a params tree).
    regularizer: optional (params, pretrained_params, config) -> scalar added to the
      loss (L2-SP); methods with one use no weight decay.
    needs_pretrained_params: the training loop keeps the pretrained variables on the
      devices (even when it resumes), hands their params to `regularizer` and runs
      them on each batch for `feature_loss`.
    aux_loss: optional (gates, config, axis_name) -> scalar added to the loss (SpotTune
      global-k); `axis_name` is the pmap axis (None under jit or one device), over
      which a loss of batch statistics must reduce to be the global batch's loss.
    pretrained_parts: optional config -> {params subtree, e.g. 'gate/trunk': directory of
      converted weights it starts from}, beside the backbone's `config.pretrained`.
    stages: optional config -> the run's `Stage`s in order (LP-FT: a linear probe, then
      fine-tuning); None: one stage, every group trained for all of config.num_epochs.
    taps: optional params -> paths of the modules whose outputs `feature_loss` reads.
    feature_loss: optional (tapped, pretrained, config, axis_name) -> scalar added to
      the loss; `tapped` maps 'features' (the pooled features the head reads, [B, d])
      and each tap ('/'-joined path) to its output in this step; `pretrained` is the
      same of the pretrained network on the same batch (inference mode, no gradient)
      when the method `needs_pretrained_params`, else None. Under pmap the batch is the
      device's shard and `axis_name` the device axis (None under jit or one device).
    constants: optional (config, num_classes, train_outputs) -> {name: numpy array}, once,
      before the first step, from the starting model: ``train_outputs(names)`` yields
      ({name: [b, ...]} of the model's sown intermediates, labels [b]) over every
      training image (eval mode, the evaluation transform). The loop keeps them in the
      workdir, so a resumed run uses the same (Co-Tuning's category relationship).
    batch_loss: optional (intermediates, batch, constants, config) -> scalar added to the
      loss: a term of the model's sown intermediates ({name: array}), the batch's labels
      and the method's constants (Co-Tuning's loss on the source head's logits).
    wrap_optimizer: optional (tx, labels, config, steps_per_epoch) -> the optax
      transformation that replaces the per-group optimizer `tx` (Auto-RGN's per-layer
      rates); `labels` the params' groups.
  """
  name: str
  build_model: Callable[[ml_collections.ConfigDict, int, Optional[str]], nn.Module]
  label: Callable[[Path], str] = default_label
  regularizer: Optional[Callable[[Any, Any, ml_collections.ConfigDict], jax.Array]] = None
  needs_pretrained_params: bool = False
  aux_loss: Optional[Callable[[Dict[str, jax.Array], ml_collections.ConfigDict,
                               Optional[str]], jax.Array]] = None
  pretrained_parts: Optional[Callable[[ml_collections.ConfigDict], Dict[str, str]]] = None
  stages: Optional[Callable[[ml_collections.ConfigDict], Sequence[Stage]]] = None
  taps: Optional[Callable[[Any], Sequence[Path]]] = None
  feature_loss: Optional[Callable[[Dict[str, jax.Array], Optional[Dict[str, jax.Array]],
                                   ml_collections.ConfigDict, Optional[str]],
                                  jax.Array]] = None
  constants: Optional[Callable[[ml_collections.ConfigDict, int, Callable],
                               Dict[str, Any]]] = None
  batch_loss: Optional[Callable[[Dict[str, jax.Array], Dict[str, jax.Array], Dict[str, Any],
                                 ml_collections.ConfigDict], jax.Array]] = None
  wrap_optimizer: Optional[Callable[[Any, Any, ml_collections.ConfigDict, int], Any]] = None

  def labels(self, params, config: Optional[ml_collections.ConfigDict] = None) -> Any:
    """A pytree of group names matching `params`, for `optax.partition` (a method whose
    groups depend on its settings reads them from `config`: surgical fine-tuning)."""
    frozen = transform.frozen_modules(params)
    head = own_head(config)

    def group(keys):
      if any(keys[:len(f)] == f for f in frozen):
        return 'frozen'
      return 'head' if head and keys[:len(head)] == head else self.label(keys)

    flat = {path: group(tuple(str(getattr(k, 'key', k)) for k in path))
            for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
    return jax.tree_util.tree_map_with_path(lambda path, _: flat[path], params)

  def schedule(self, config: ml_collections.ConfigDict) -> List[Tuple[int, Stage]]:
    """[(first epoch, stage)] covering config.num_epochs, checked."""
    stages = list(self.stages(config)) if self.stages else [Stage()]
    out, first = [], 0
    for i, stage in enumerate(stages):
      last = i == len(stages) - 1
      if (stage.epochs is None) != last or (not last and stage.epochs < 1):
        raise ValueError(f'{self.name}: stage {i} lasts {stage.epochs} epochs; every stage '
                         'but the last needs >= 1, the last (None) takes the rest')
      if 'weight_decay' in stage.optim or set(stage.trained) - set(GROUPS):
        raise ValueError(f'{self.name}: stage {i} sets weight_decay or trains groups '
                         f'outside {GROUPS}: {stage}')
      out.append((first, stage))
      first += stage.epochs or 0
    if len(out) > 1 and first >= config.num_epochs:
      raise ValueError(f'{self.name}: its stages before the last take {first} epochs, '
                       f'config.num_epochs={config.num_epochs} leaves none for the last')
    return out


def backbone_kwargs(config: ml_collections.ConfigDict, bn_axis_name: Optional[str]) -> dict:
  """What every method passes to the ResNet it builds after the arch: ``config.model``
  (models.resnet's arguments) as it is."""
  return dict({k: v for k, v in config.model.items() if k != 'arch'},
              bn_axis_name=bn_axis_name)


def settings(config: ml_collections.ConfigDict, block: str,
             recipe: str) -> ml_collections.ConfigDict:
  """``config.<block>``: a method's own settings, written by its recipe only (no defaults
  here, so that the saved config is the whole truth of a run)."""
  if block not in config:
    raise ValueError(
        f'config.method={config.method!r} reads config.{block}, which this config does not '
        f'have: start from its recipe, python main.py --config '
        f'configs/transfer.py:dataset=<dataset>,method={recipe}, which sets it.')
  return config[block]


REGISTRY: Dict[str, Method] = {}


def register(method: Method) -> Method:
  if method.name in REGISTRY:
    raise ValueError(f'method {method.name!r} registered twice')
  REGISTRY[method.name] = method
  return method


def get(name: str) -> Method:
  if name not in REGISTRY:
    raise ValueError(f'unknown method {name!r} (config.method); known: {sorted(REGISTRY)}')
  return REGISTRY[name]


def names():
  return sorted(REGISTRY)
