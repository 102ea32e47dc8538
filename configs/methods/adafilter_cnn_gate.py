"""Table 4 ablation: a CNN gate (ResNet-18 on the image, one FC head per gated layer,
sigmoid, the same STE) instead of the recurrent gate. Its trunk starts from ImageNet
from `adafilter.gate_pretrained`: torchvision's ResNet-18 as timm mirrors it on the Hugging
Face Hub (converted on first use, weights/README.md), or a directory of converted
weights; '' trains it from scratch.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=adafilter_cnn_gate
"""


def apply(c):
  c.method = 'adafilter'
  c.adafilter.gate = 'cnn'
  c.adafilter.gate_arch, c.adafilter.gate_width = 'resnet18', 64
  c.adafilter.gate_pretrained = 'hf-hub:timm/resnet18.tv_in1k'
  return c

