"""The new layers start as torch's do (the paper's code is PyTorch), flax's or zero on request.

Reference: real torch modules. `torch.nn.Linear(fan_in, out)` draws weight and bias from
U(-1/sqrt(fan_in), 1/sqrt(fan_in)); `torch.nn.LSTMCell(E, H)` draws every weight and both
biases from U(-1/sqrt(H), 1/sqrt(H)), so its effective bias b_ih + b_hh is the sum of two.
Each leaf is compared with samples of the torch module of the same shape: the bound, and
mean and variance against the law's, and a two-sample Kolmogorov-Smirnov test on the
values scaled by the bound (p > 1e-4; flax's lecun_normal or zeros give p < 1e-10).
"""
import numpy as np
import scipy.stats
import torch

from tests.models import tiny

P_MIN = 1e-4


def _torch_linear(fan_in, out, seed):
  torch.manual_seed(seed)
  m = torch.nn.Linear(fan_in, out)
  return m.weight.detach().numpy().T, m.bias.detach().numpy()


def _same_law(ours, theirs, bound, var=1 / 3):
  """Same support, mean 0, variance `var` * bound**2 (1/3: U(-bound, bound); 1/6: the
  sum of two U(-bound/2, bound/2)) within 5 standard errors, and the KS test."""
  ours, theirs = np.ravel(ours) / bound, np.ravel(theirs) / bound
  for x in (ours, theirs):  # torch's own samples check the stated law too
    assert np.abs(x).max() <= 1 + 1e-6
    se = np.sqrt(0.8 / x.size) * var  # a uniform's variance estimate: sd ~ sqrt(0.8/n) var
    assert abs(x.var() - var) <= 5 * se, (x.var(), var)
    assert abs(x.mean()) <= 5 * np.sqrt(var / x.size), x.mean()
  p = scipy.stats.ks_2samp(ours, theirs).pvalue
  assert p > P_MIN, p


def _dense_leaves(tree, prefix):
  return {k: v for k, v in tree.items() if k.startswith(prefix)}


def test_head_starts_as_torch_linear():
  model = tiny.resnet('resnet18', 300, width=32)
  params = tiny.init(model)['params']['fc']
  fan_in = params['kernel'].shape[0]
  w, b = _torch_linear(fan_in, 300, seed=0)
  _same_law(params['kernel'], w, fan_in ** -0.5)
  _same_law(params['bias'], b, fan_in ** -0.5)


def test_lstm_gate_starts_as_torch():
  model = tiny.adafilter('resnet18', 5, width=8, embed_dim=64, hidden_dim=256,
                         gated_layers='layer3,layer4')
  gate = tiny.init(model)['params']['gate']
  # Embeddings and heads: torch.nn.Linear of the same shapes, pooled over layers.
  for prefix in ('embed_', 'head_'):
    ours, theirs = [], []
    for i, (name, p) in enumerate(sorted(_dense_leaves(gate, prefix).items())):
      fan_in, out = p['kernel'].shape
      w, b = _torch_linear(fan_in, out, seed=i)
      scale = fan_in ** 0.5  # pool on U(-1, 1)
      ours += [p['kernel'].ravel() * scale, p['bias'] * scale]
      theirs += [w.ravel() * scale, b * scale]
    _same_law(np.concatenate(ours), np.concatenate(theirs), 1.0)
  # The LSTM cell: torch.nn.LSTMCell(64, 256).
  torch.manual_seed(0)
  cell = torch.nn.LSTMCell(64, 256)
  lstm = gate['lstm']
  bound = 256 ** -0.5
  _same_law(np.concatenate([lstm[k]['kernel'].ravel() for k in ('ii', 'if', 'ig', 'io')]),
            cell.weight_ih.detach().numpy(), bound)
  _same_law(np.concatenate([lstm[k]['kernel'].ravel() for k in ('hi', 'hf', 'hg', 'ho')]),
            cell.weight_hh.detach().numpy(), bound)
  torch_bias = (cell.bias_ih + cell.bias_hh).detach().numpy()  # what torch adds: one sum
  _same_law(np.concatenate([lstm[k]['bias'] for k in ('hi', 'hf', 'hg', 'ho')]),
            torch_bias, 2 * bound, var=1 / 6)
