"""Pretrained weights: resolving ``config.pretrained`` and loading it into any model
(pretrained.py), their on-disk format (store.py), torchvision's ResNets from the Hugging
Face Hub (hub.py), and the converters from torchvision's ResNets (convert.py) and the
Decathlon ResNet-26 (convert_resnet26.py)."""
