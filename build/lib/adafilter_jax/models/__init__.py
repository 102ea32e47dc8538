"""Models: torchvision-exact ResNets (resnet.py), AdaFilter's gated units (gated.py),
its gates (gates.py), the AdaFilter ResNet (adafilter.py), the straight-through
estimators (ste.py) and the plain units they are built from (layers.py)."""
from adafilter_jax.models.adafilter import adafilter_resnet
from adafilter_jax.models.gates import GATES, GateState, is_gated
from adafilter_jax.models.resnet import STAGES, ResNet, resnet

__all__ = ['GATES', 'GateState', 'ResNet', 'STAGES', 'adafilter_resnet', 'is_gated', 'resnet']
