"""Table 4 ablation: a CNN gate (ResNet-18 on the image, one FC head per gated layer,
sigmoid, the same STE) instead of the recurrent gate. Its trunk starts from ImageNet
when `adafilter.gate_pretrained` names converted ResNet-18 weights
(python -m adafilter_jax.weights.convert weights/resnet18-5c106cde.pth weights/resnet18 --arch
resnet18); '' trains it from scratch.

  python main.py --config configs/methods/adafilter_cnn_gate.py:caltech256_30
"""
from configs.methods import on_dataset


def apply(c):
  c.method = 'adafilter'
  c.adafilter.gate = 'cnn'
  c.adafilter.gate_arch, c.adafilter.gate_width = 'resnet18', 64
  c.adafilter.gate_pretrained = 'weights/resnet18'
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'adafilter_cnn_gate')
