"""The benchmark's torch peer: torchvision's ResNet-50 (v1.5) in plain torch.

torch is optional (requirements-test.txt): it is imported when a peer is built, never by
the package itself. Built for timing only: the same convolutions, BNs, ReLUs and head as
``torchvision.models.resnet50`` (the stride on the 3x3 conv, v1.5), randomly initialised.
"""


def resnet50(num_classes: int):
  """A torch module mapping [N, 3, H, W] images to [N, num_classes] logits."""
  import torch
  from torch import nn

  def conv_bn(cin, cout, kernel, stride=1, relu=True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
              nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU(inplace=True)] if relu else []))

  class Bottleneck(nn.Module):

    def __init__(self, cin, planes, stride):
      super().__init__()
      self.body = nn.Sequential(conv_bn(cin, planes, 1), conv_bn(planes, planes, 3, stride),
                                conv_bn(planes, 4 * planes, 1, relu=False))
      self.shortcut = (conv_bn(cin, 4 * planes, 1, stride, relu=False)
                       if stride != 1 or cin != 4 * planes else nn.Identity())

    def forward(self, x):
      return torch.relu(self.body(x) + self.shortcut(x))

  stages, cin = [], 64
  for i, depth in enumerate((3, 4, 6, 3)):
    planes = 64 * 2**i
    for j in range(depth):
      stages.append(Bottleneck(cin, planes, 2 if i > 0 and j == 0 else 1))
      cin = 4 * planes
  return nn.Sequential(conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1), *stages,
                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))
