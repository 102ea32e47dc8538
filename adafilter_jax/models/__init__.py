"""Models: torchvision-exact ResNets (resnet.py) and their units (layers.py, convs.py);
AdaFilter's ResNet (adafilter.py) with its gated units (gated.py, faster forms in
gated_fast.py), its gates (gates.py) and straight-through estimators (ste.py);
AdaFilter on any linen conv net, the user's own (transform.py), a user's model named by
the config (own.py); SpotTune (spottune.py); a ResNet that keeps its pretraining head
(resnet.WithSourceHead, Co-Tuning's); the Decathlon ResNet-26 (resnet26.py,
spottune26.py); the table that picks an architecture (archs.py)."""
from adafilter_jax.models.adafilter import GATES, GatedResNet, adafilter_resnet
from adafilter_jax.models.gates import GateState, is_gated
from adafilter_jax.models.archs import resnet, spottune_resnet
from adafilter_jax.models.resnet import STAGES, ResNet, WithSourceHead

__all__ = ['GATES', 'GateState', 'GatedResNet', 'ResNet', 'STAGES', 'adafilter_resnet',
           'is_gated', 'resnet', 'spottune_resnet', 'WithSourceHead']
