"""Pretrained weights: loading converted weights into any model (pretrained.py), and the
converters from torchvision's ResNets (convert.py) and the Decathlon ResNet-26
(convert_resnet26.py)."""
