"""The architecture table: ``config.model.arch`` -> the function that builds it, plain or
as SpotTune's gated form. torchvision's ResNets (resnet.py, spottune.py) and the Visual
Decathlon's ResNet-26 (resnet26.py, spottune26.py) are picked here, and only here."""
import functools
from typing import Callable, Dict, Optional

from adafilter_jax.models import resnet as resnet_lib
from adafilter_jax.models import resnet26 as resnet26_lib
from adafilter_jax.models import spottune as spottune_lib
from adafilter_jax.models import spottune26 as spottune26_lib

# arch -> (num_classes, *, model_cls=ResNet, **fields) -> the network.
BACKBONES: Dict[str, Callable] = {
    **{arch: functools.partial(resnet_lib.resnet, arch) for arch in resnet_lib.ARCHS},
    'resnet26': resnet26_lib.resnet26,
}
# arch -> (num_classes, *, policy_width, tau, fixed, **fields) -> SpotTune's network.
SPOTTUNE: Dict[str, Callable] = {
    **{arch: functools.partial(spottune_lib.spottune_resnet, arch) for arch in resnet_lib.ARCHS},
    'resnet26': spottune26_lib.spottune_resnet26,
}


def _lookup(table: Dict[str, Callable], arch: str) -> Callable:
  if arch not in table:
    raise ValueError(f'unknown arch {arch!r} (config.model.arch); expected one of '
                     f'{sorted(table)}')
  return table[arch]


def backbone(arch: str, num_classes: Optional[int], **kwargs):
  """Any arch of the table from the config's `model` block: ``backbone(num_classes=...,
  **config.model)``; `model_cls` (a `ResNet` subclass: a gated ResNet) and its fields
  in `kwargs`."""
  return _lookup(BACKBONES, arch)(num_classes, **kwargs)


def spottune_backbone(arch: str, num_classes: int, **kwargs):
  """SpotTune on any arch of the table; `fixed` (block names) gives the global-k model,
  `all_finetuned` the model that routes every image through the fine-tuned blocks at
  test time."""
  return _lookup(SPOTTUNE, arch)(num_classes, **kwargs)
