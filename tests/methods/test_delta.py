"""DELTA: the taps are the official code's, the loss equals the official formula computed
in torch on a tiny ResNet (value and gradient) with no gradient reaching the pretrained
network, and the channel weights are the zeroed-filter loss increases, z-scored and
softmaxed at temperature 5."""
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adafilter_jax import methods
from adafilter_jax.methods import delta
from adafilter_jax.systems import delta_attention
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps
from adafilter_jax.weights import convert
from tests.methods import tiny
from tests.models import conversion
from tests.models.torch_resnet import torch_resnet


def _params(arch):
  config = tiny.config('delta', arch)
  model = methods.get('delta').build_model(config, 5, None)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))['params']


def test_taps_are_the_last_conv_of_each_stage():
  # lixingjian/DELTA train.py's hook layers for ResNet-50 and ResNet-101
  assert delta.taps(_params('resnet50')) == [
      ('layer1_2', 'conv3', 'conv'), ('layer2_3', 'conv3', 'conv'),
      ('layer3_5', 'conv3', 'conv'), ('layer4_2', 'conv3', 'conv')]
  assert delta.taps(_params('resnet101'))[2] == ('layer3_22', 'conv3', 'conv')
  assert delta.taps(_params('resnet18')) == [(f'layer{i}_1', 'conv2', 'conv') for i in (1, 2, 3, 4)]
  assert delta.taps(_params('resnet26')) == [(f'layer{i}_3', 'conv2', 'conv') for i in (1, 2, 3)]


def test_weights_from_importance_by_hand():
  # mean 1, std sqrt(2/3): z = -1.2247, 0, 1.2247; exp(z / 5) = 0.7827, 1, 1.2775
  np.testing.assert_allclose(delta.weights_from_importance([0.0, 1.0, 2.0]),
                             [0.2558, 0.3268, 0.4175], atol=2e-4)
  np.testing.assert_allclose(delta.weights_from_importance([3.0, 3.0]), [0.5, 0.5])


HOOKS = ('layer1.1.conv2', 'layer2.1.conv2', 'layer3.1.conv2', 'layer4.1.conv2')


def _torch_loss(target, source, x, labels, weights, alpha, beta):
  """lixingjian/DELTA train.py's loss (reg_att_fea_map + reg_classifier), written here."""
  maps = {'t': [], 's': []}
  hooks = [dict(target.named_modules())[h].register_forward_hook(
      lambda m, i, o: maps['t'].append(o)) for h in HOOKS]
  hooks += [dict(source.named_modules())[h].register_forward_hook(
      lambda m, i, o: maps['s'].append(o)) for h in HOOKS]
  logits, _ = target.train()(x)
  with torch.no_grad():
    source.eval()(x)
  for h in hooks:
    h.remove()
  fea = 0.0
  for t, s, w in zip(maps['t'], maps['s'], weights):
    b, c, h, wd = t.shape
    distance = torch.norm((t - s.detach()).reshape(b, c, h * wd), 2, 2)
    fea = fea + 0.5 * torch.sum(c * w * distance ** 2 / (h * wd))
  cls = 0.5 * torch.norm(target.fc.weight) ** 2 + 0.5 * torch.norm(target.fc.bias) ** 2
  return F.cross_entropy(logits, labels) + alpha * fea + beta * cls


def test_loss_equals_the_official_formula_and_the_pretrained_side_gets_no_gradient(tmp_path):
  config = tiny.config('delta', 'resnet18', width=4)  # the torch reference's arch
  config.delta.alpha, config.delta.beta = 0.3, 0.2
  rng = np.random.RandomState(0)
  channels = (4, 8, 16, 32)
  weights = [np.exp(rng.randn(c)).astype(np.float32) for c in channels]
  weights = [w / w.sum() for w in weights]
  config.delta.attention = str(tmp_path / 'attention.npz')
  np.savez(config.delta.attention, **{f'layer{i + 1}_1/conv2/conv': w
                                      for i, w in enumerate(weights)})
  source, target = (torch_resnet('resnet18', 5, width=4, seed=s) for s in (0, 1))
  images = rng.randint(0, 256, (4, 32, 32, 3)).astype(np.uint8)
  labels = np.array([0, 3, 1, 4], np.int32)
  mean, std = np.array(config.data.mean) * 255, np.array(config.data.std) * 255
  x = torch.from_numpy(((images - mean) / std).transpose(0, 3, 1, 2).astype(np.float32))
  want = _torch_loss(target, source, x, torch.from_numpy(labels).long(),
                     [torch.from_numpy(w) for w in weights], 0.3, 0.2)
  want.backward()

  method = methods.get('delta')
  model = method.build_model(config, 5, None)
  ours = lambda net: conversion.convert_unchecked({k: v.detach().numpy()
                                         for k, v in net.state_dict().items()})
  anchor, start = ours(source), ours(target)
  state = state_lib.create_state(method, model, start, config, steps_per_epoch=1)
  loss_fn = steps.make_loss_fn(method, config, None)
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 4), has_aux=True))
  (loss, _), (grads, anchor_grads) = grad_fn(
      state.params, state, {'image': images, 'label': labels}, jax.random.key(0), anchor)

  np.testing.assert_allclose(loss, want.item(), rtol=1e-5)
  flat = flax.traverse_util.flatten_dict(grads)
  for name, p in target.named_parameters():
    _, path = convert.flax_key(name)
    np.testing.assert_allclose(flat[path], convert._to_flax_layout(path, p.grad.numpy()),
                               rtol=2e-3, atol=1e-4 * np.abs(p.grad.numpy()).max(), err_msg=name)
  assert not any(np.any(g) for g in jax.tree.leaves(anchor_grads))


def test_channel_increases_equal_zeroing_each_filter():
  config = tiny.config('delta', 'resnet18', width=4)  # the torch reference's arch
  model = methods.get('delta').build_model(config, 5, None)
  x = jax.random.normal(jax.random.key(0), (6, 32, 32, 3))
  variables = tiny.variables(model, x, train=False)
  labels = np.array([0, 1, 2, 3, 4, 0], np.int32)
  got = delta_attention.channel_increases(model, variables, [{'image': x, 'label': labels}])

  forward = jax.jit(lambda v: model.apply(v, x, train=False)[0])

  def mean_ce(params):
    logits = np.asarray(forward({**variables, 'params': params}), np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])

  base = mean_ce(variables['params'])
  assert list(got) == [f'layer{i}_1/conv2/conv' for i in (1, 2, 3, 4)]
  for name, increases in got.items():
    block, unit, _ = name.split('/')
    for c in range(len(increases)):  # the official loop: one filter zeroed at a time
      params = jax.tree.map(np.array, variables['params'])
      params[block][unit]['conv']['kernel'][..., c] = 0.0
      np.testing.assert_allclose(increases[c], mean_ce(params) - base, atol=2e-5,
                                 err_msg=f'{name} channel {c}')
  assert np.ptp(got['layer4_1/conv2/conv']) > 1e-3  # the channels do differ


def test_attention_from_a_file_is_checked(tmp_path):
  config = tiny.config('delta')
  config.delta.attention = str(tmp_path / 'a.npz')
  np.savez(config.delta.attention, **{'layer1_1/conv2/conv': np.ones(3, np.float32)})
  with pytest.raises(ValueError, match=r'no channel weights for layer1_1/conv2/conv of shape'):
    delta.attention(config, 'layer1_1/conv2/conv', 4)
  config.delta.attention = ''
  with pytest.raises(ValueError, match='the delta runner measures'):
    delta.attention(config, 'layer1_1/conv2/conv', 4)
  config.delta.attention = 'uniform'
  np.testing.assert_allclose(delta.attention(config, 'x', 4), 0.25)
