"""An independent torch ResNet-26 of the Visual Decathlon, written from its description
(Rebuffi et al. 2017) with the module names of srebuffi/residual_adapters (one task)."""
import torch
from torch import nn


class ConvTask(nn.Module):
  """conv3x3 + one BN per task (here one): names ``conv``, ``bns.0``."""

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bns = nn.ModuleList([nn.BatchNorm2d(cout)])

  def forward(self, x):
    return self.bns[0](self.conv(x))


class Block(nn.Module):

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv1 = ConvTask(cin, cout, stride)
    self.conv2 = nn.Sequential(nn.ReLU(), ConvTask(cout, cout, 1))
    self.shortcut = stride != 1 or cin != cout

  def forward(self, x):
    y = self.conv2(self.conv1(x))
    r = x
    if self.shortcut:  # AvgPool(2) and zero channels: no parameters
      r = nn.functional.avg_pool2d(x, 2)
      r = torch.cat([r, torch.zeros_like(r)], 1)
    return torch.relu(y + r)


class ResNet26(nn.Module):

  def __init__(self, num_classes, width=32):
    super().__init__()
    self.pre_layers_conv = ConvTask(3, width, 1)
    cin = width
    for s in range(3):
      cout = width * 2 ** (s + 1)
      blocks = [Block(cin if b == 0 else cout, cout, 2 if b == 0 else 1) for b in range(4)]
      setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))
      cin = cout
    self.end_bns = nn.ModuleList([nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU())])
    self.linears = nn.ModuleList([nn.Linear(cin, num_classes)])

  def forward(self, x, sizes=None):
    x = self.pre_layers_conv(x)
    for s in range(3):
      x = getattr(self, f'layer{s + 1}')(x)
      if sizes is not None:
        sizes.append(tuple(x.shape[1:]))
    x = self.end_bns[0](x).mean((2, 3))
    return self.linears[0](x)


def randomize_bn(model, seed=0):
  """Non-trivial BN statistics and affine parameters, so a mixed-up BN shows."""
  g = torch.Generator().manual_seed(seed)
  for m in model.modules():
    if isinstance(m, nn.BatchNorm2d):
      n = m.num_features
      m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
      m.running_var.copy_(0.5 + torch.rand(n, generator=g))
      m.weight.data.copy_(1 + 0.2 * torch.randn(n, generator=g))
      m.bias.data.copy_(0.1 * torch.randn(n, generator=g))
  return model
