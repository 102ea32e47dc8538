"""The method registry: `Method`, what a method is made of, and `register`.

Kept apart from the package's ``__init__`` so that each method module imports it and the
package imports the method modules, with no import running back.
"""
import dataclasses
import functools
import importlib
import pkgutil
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import ml_collections

from adafilter_jax.models import transform

# Param groups, each with its own optimizer (train/optimizer.py): the backbone, the new
# head, the gate (10x the backbone's rate in the paper), and parameters never updated.
GROUPS = ('network', 'head', 'gate', 'frozen')

Path = Tuple[str, ...]
# A recipe: a method's settings and schedule written onto any dataset's config (in place,
# returned); its docstring carries the command that runs it and the expected result.
Recipe = Callable[[ml_collections.ConfigDict], ml_collections.ConfigDict]


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
class LossContext:
  """What a method's loss reads in one train step; under pmap the batch and everything
  computed from it are the device's shard, and `axis_name` is the device axis (None
  under jit or one device), over which a loss of batch statistics must reduce.

  Attributes:
    params: the params being trained (the groups a stage holds behind stop_gradient).
    pretrained: the pretrained params (`Loss.pretrained`), else None.
    tapped: with `Loss.intermediates`, 'features' (the pooled features the head reads,
      [B, d]) and each tap's output ('/'-joined path, `Loss.taps`), else {}.
    pretrained_tapped: the same of the pretrained network on the same batch (inference
      mode, no gradient) when the loss reads both, else None.
    sown: with `Loss.intermediates`, the forward's sown intermediates {'a/b': value}.
    gates: the model's gates of this step ({} for a plain model).
    constants: what the method's `prepare` step computed ({} without one).
  """
  params: Any = None
  pretrained: Any = None
  tapped: Mapping[str, jax.Array] = dataclasses.field(default_factory=dict)
  pretrained_tapped: Optional[Mapping[str, jax.Array]] = None
  sown: Mapping[str, jax.Array] = dataclasses.field(default_factory=dict)
  gates: Mapping[str, jax.Array] = dataclasses.field(default_factory=dict)
  constants: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  batch: Mapping[str, jax.Array] = dataclasses.field(default_factory=dict)
  config: Optional[ml_collections.ConfigDict] = None
  axis_name: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Loss:
  """A method's term added to the cross-entropy, and what the train step must compute
  for it (nothing more is computed for a method that does not ask).

  Attributes:
    fn: (LossContext) -> scalar.
    pretrained: the loop keeps the pretrained variables on the devices (also when it
      resumes); `fn` reads their params, and, with `intermediates`, the pretrained
      network's tapped outputs on the batch.
    intermediates: the forward keeps its intermediates (`tapped`, `sown`).
    taps: optional params -> paths of the modules whose outputs `tapped` holds.
    replaces_weight_decay: a regularizer of the weights (L2-SP): no weight decay beside it.
  """
  fn: Callable[[LossContext], jax.Array]
  pretrained: bool = False
  intermediates: bool = False
  taps: Optional[Callable[[Any], Sequence[Path]]] = None
  replaces_weight_decay: bool = False


@dataclasses.dataclass(frozen=True)
class Preparation:
  """What a method's `prepare` step reads, once per workdir, before the first step.

  Attributes:
    config: the run's config.
    num_classes: the target task's classes.
    train_outputs: (names) -> an iterator of ({name: [b, ...]} of the starting model's
      sown intermediates, labels [b]) over every training image (eval mode, the
      evaluation transform).
    model: the linen model `build_model` made.
    workdir: the run's directory (a file the method writes for its users goes there).
  """
  config: ml_collections.ConfigDict
  num_classes: int
  train_outputs: Callable[[Sequence[str]], Any]
  model: Any = None
  workdir: str = ''


@dataclasses.dataclass(frozen=True)
class Method:
  """A fine-tuning method: what `config.method` names. One module registers it (the
  package imports every module of adafilter_jax/methods/), with everything it adds.

  Attributes:
    name: the key of `config.method`.
    build_model: (config, num_classes, bn_axis_name) -> a linen model returning
      (logits, gates); `bn_axis_name` is the pmap axis (None under jit or one device).
    label: param path -> one of GROUPS (`labels` applies it to a params tree).
    loss: optional `Loss` added to the cross-entropy.
    prepare: optional (Preparation) -> {name: numpy array}, computed once from the
      starting model before the first step and kept in the workdir, so a resumed run
      uses the same (Co-Tuning's category relationship); `LossContext.constants`. A
      step that returns {} runs at every start (AdaFilter's plan of a user's model).
    pretrained_parts: optional config -> {params subtree, e.g. 'gate/trunk': directory of
      converted weights it starts from}, beside the backbone's `config.pretrained`.
    stages: optional config -> the run's `Stage`s in order (LP-FT: a linear probe, then
      fine-tuning); None: one stage, every group trained for all of config.num_epochs.
    wrap_optimizer: optional (tx, labels, config, steps_per_epoch) -> the optax
      transformation that replaces the per-group optimizer `tx` (Auto-RGN's per-layer
      rates); `labels` the params' groups.
    recipe: optional `Recipe`, the method's own under its name (`apply_recipe`): its
      settings block ``config.<name>``, written here only (the method reads it with
      `settings`, no defaults), and its schedule. None: no recipe of that name.
    recipes: more recipes of this method under names of their own (its ablations, its
      paper baselines on another schedule), each written whole, not on top of `recipe`.
  """
  name: str
  build_model: Callable[[ml_collections.ConfigDict, int, Optional[str]], nn.Module]
  label: Callable[[Path], str] = default_label
  loss: Optional[Loss] = None
  prepare: Optional[Callable[[Preparation], Dict[str, Any]]] = None
  pretrained_parts: Optional[Callable[[ml_collections.ConfigDict], Dict[str, str]]] = None
  stages: Optional[Callable[[ml_collections.ConfigDict], Sequence[Stage]]] = None
  wrap_optimizer: Optional[Callable[[Any, Any, ml_collections.ConfigDict, int], Any]] = None
  recipe: Optional[Recipe] = None
  recipes: Mapping[str, Recipe] = dataclasses.field(default_factory=dict)

  @property
  def needs_pretrained_params(self) -> bool:
    """The loop keeps the pretrained variables on the devices for the loss."""
    return self.loss is not None and self.loss.pretrained

  @property
  def weight_decay(self) -> bool:
    return self.loss is None or not self.loss.replaces_weight_decay

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
  (models.backbone's arguments) as it is."""
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
RECIPES: Dict[str, Tuple[str, Recipe]] = {}  # recipe name -> (its method, the recipe)


def register(method: Method) -> Method:
  """Adds `method` and its recipes; a name taken by another method or recipe fails."""
  own = {method.name: method.recipe} if method.recipe else {}
  for name in [method.name, *own, *method.recipes]:
    if name in REGISTRY or name in RECIPES:
      raise ValueError(f'method {method.name!r}: the name {name!r} is registered already')
  REGISTRY[method.name] = method
  RECIPES.update({name: (method.name, recipe)
                  for name, recipe in {**own, **method.recipes}.items()})
  return method


@functools.lru_cache(maxsize=None)
def _discover():
  """Imports every module of the package once (each registers its methods): on the
  first lookup, not on the package's import, so that running one of its modules
  (``python -m adafilter_jax.methods.paper_numbers``) imports it once."""
  package = __name__.rpartition('.')[0]
  for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
    importlib.import_module(f'{package}.{module.name}')


def get(name: str) -> Method:
  _discover()
  if name not in REGISTRY:
    raise ValueError(f'unknown method {name!r} (config.method); known: {sorted(REGISTRY)}')
  return REGISTRY[name]


def names():
  _discover()
  return sorted(REGISTRY)


def recipe_names() -> List[str]:
  """Every recipe: what the experiments grid and configs/transfer.py's `method=` take."""
  _discover()
  return sorted(RECIPES)


def apply_recipe(name: str, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Recipe `name` on `config` (in place, returned): ``config.method`` set to its method,
  then the recipe's settings and schedule."""
  _discover()
  if name not in RECIPES:
    raise ValueError(f'unknown recipe {name!r} (a method\'s `recipe` or `recipes`, '
                     f'adafilter_jax/methods/); known: {sorted(RECIPES)}')
  method, recipe = RECIPES[name]
  config.method = method
  return recipe(config)
