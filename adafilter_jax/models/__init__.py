"""Models: torchvision-exact ResNets (resnet.py) and their units (layers.py, convs.py);
AdaFilter on any linen conv net (transform.py), this project's ResNets and a user's model
named by the config (adafilter.py, own.py), with its gates (gates.py), straight-through
estimators (ste.py), the selected-statistics BN (selected_bn.py) and the test-time fast
path (gated_fast.py); SpotTune (spottune.py); a ResNet that keeps its pretraining head
(resnet.WithSourceHead, Co-Tuning's); the Decathlon ResNet-26 (resnet26.py,
spottune26.py); the table that picks an architecture (archs.py)."""
from adafilter_jax.models.adafilter import GATES, adafilter_resnet
from adafilter_jax.models.gates import GateState, is_gated
from adafilter_jax.models.archs import backbone, spottune_backbone
from adafilter_jax.models.resnet import STAGES, ResNet, WithSourceHead

__all__ = ['GATES', 'GateState', 'ResNet', 'STAGES', 'WithSourceHead', 'adafilter_resnet',
           'backbone', 'is_gated', 'spottune_backbone']
