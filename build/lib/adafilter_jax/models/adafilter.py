"""AdaFilter's ResNet: the torchvision ResNet with gated units and one shared gate.

Every METHOD.md choice the paper leaves open is an argument here (and a config switch):
which convs are gated, the gate kind and sizes, the STE backward, gated vs standard BN.
"""
import functools

from adafilter_jax.models import gates as gates_lib
from adafilter_jax.models.gated import GatedConvBN
from adafilter_jax.models.resnet import ResNet, resnet


def adafilter_resnet(arch: str, num_classes: int, *, gate: str = 'lstm',
                     layers: str = 'all', gated_bn: bool = True, bn_stats: str = 'batch',
                     ste_through_sigmoid: bool = False, embed_dim: int = 128,
                     hidden_dim: int = 128, gate_arch: str = 'resnet18',
                     gate_width: int = 64, random_p: float = 0.5,
                     train_impl: str = 'two_branch', eval_impl: str = 'two_branch',
                     **kwargs) -> ResNet:
  """Args beyond `resnet`'s: gate ('lstm' | 'cnn' | 'random'), layers (see
  `gates.is_gated`), gated_bn (Eq. 5, else Eq. 6), bn_stats (gated BN's batch
  statistics over the whole batch, or 'selected': only the examples that picked the
  branch), ste_through_sigmoid (the STE's backward, identity by default), the LSTM's
  embed/hidden sizes, the CNN gate's trunk, the random policy's probability.

  Speed variants (docs/speed.md), each tested equal to the default: train_impl
  ('two_branch' | 'concat' | 'remat'), eval_impl ('two_branch' | 'fused' | 'fused_all'
  | 'fused_map' | 'fused_group'), and `ResNet`'s conv_impl (convs.IMPLS) for every conv."""
  if gate not in gates_lib.GATES:
    raise ValueError(f'unknown gate {gate!r}; expected one of {sorted(gates_lib.GATES)}')
  options = {
      'lstm': dict(embed_dim=embed_dim, hidden_dim=hidden_dim),
      'cnn': dict(arch=gate_arch, width=gate_width),
      'random': dict(p=random_p),
  }[gate]
  gate_def = functools.partial(gates_lib.GATES[gate], layers=layers,
                               through_sigmoid=ste_through_sigmoid, **options)
  unit = functools.partial(GatedConvBN, gated_bn=gated_bn, bn_stats=bn_stats,
                           train_impl=train_impl, eval_impl=eval_impl)
  return resnet(arch, num_classes, unit=unit, gate=gate_def, **kwargs)
