"""An independent reference: torchvision's ResNet written in plain torch.

torchvision itself does not import beside the CPU torch installed here, so this is its
architecture (v1.5) with the same module names, hence the same state_dict keys in the
same order: it loads torchvision checkpoints with strict=True.
"""
import torch
from torch import nn


def _conv(i, o, k, s=1):
  return nn.Conv2d(i, o, k, s, k // 2, bias=False)


class BasicBlock(nn.Module):
  expansion = 1

  def __init__(self, i, planes, stride, downsample):
    super().__init__()
    self.conv1, self.bn1 = _conv(i, planes, 3, stride), nn.BatchNorm2d(planes)
    self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
    self.relu, self.downsample = nn.ReLU(inplace=True), downsample

  def forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
  expansion = 4

  def __init__(self, i, planes, stride, downsample):
    super().__init__()
    self.conv1, self.bn1 = _conv(i, planes, 1), nn.BatchNorm2d(planes)
    self.conv2, self.bn2 = _conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
    self.conv3, self.bn3 = _conv(planes, planes * 4, 1), nn.BatchNorm2d(planes * 4)
    self.relu, self.downsample = nn.ReLU(inplace=True), downsample

  def forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):

  def __init__(self, block, layers, num_classes=1000, width=64):
    super().__init__()
    self.inplanes = width
    self.conv1, self.bn1 = nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width)
    self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
    for n, blocks in enumerate(layers):
      setattr(self, f'layer{n + 1}', self._make_layer(block, width * 2**n, blocks, 1 if n == 0 else 2))
    self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

  def _make_layer(self, block, planes, blocks, stride):
    downsample = None
    if stride != 1 or self.inplanes != planes * block.expansion:
      downsample = nn.Sequential(_conv(self.inplanes, planes * block.expansion, 1, stride),
                                 nn.BatchNorm2d(planes * block.expansion))
    layers = [block(self.inplanes, planes, stride, downsample)]
    self.inplanes = planes * block.expansion
    layers += [block(self.inplanes, planes, 1, None) for _ in range(1, blocks)]
    return nn.Sequential(*layers)

  def forward(self, x):
    """Returns the logits and the activation after the stem and after each stage."""
    acts = {}
    x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
    acts['stem'] = x
    for n in range(1, 5):
      x = getattr(self, f'layer{n}')(x)
      acts[f'layer{n}'] = x
    return self.fc(torch.flatten(self.avgpool(x), 1)), acts


ARCHS = {'resnet18': (BasicBlock, [2, 2, 2, 2]), 'resnet34': (BasicBlock, [3, 4, 6, 3]),
         'resnet50': (Bottleneck, [3, 4, 6, 3]), 'resnet101': (Bottleneck, [3, 4, 23, 3]),
         'resnet152': (Bottleneck, [3, 8, 36, 3])}


def torch_resnet(arch, num_classes=1000, width=64, seed=0):
  """A randomly initialised reference in eval mode, with non-trivial BN statistics and
  affine parameters (fresh BNs are the identity and would hide a mapping mistake)."""
  torch.manual_seed(seed)
  block, layers = ARCHS[arch]
  net = ResNet(block, layers, num_classes, width)
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
        m.running_mean.normal_(0, 0.2)
        m.running_var.uniform_(0.5, 2.0)
  return net.eval()
