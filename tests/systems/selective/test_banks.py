"""The filter banks: Gabor spectra; CNN banks vs torch and vs the project's ResNet."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from adafilter_jax import models
from adafilter_jax.models.resnet import BasicBlock
from adafilter_jax.data.config import IMAGENET_MEAN, IMAGENET_STD
from adafilter_jax.systems.selective import cnn_bank, gabor


def test_gabor_parameters_are_manjunath_ma():
  a, sx, sy = gabor.parameters()
  assert a == pytest.approx(2.0)
  assert sx == pytest.approx(1.406, abs=2e-3) and sy == pytest.approx(1.855, abs=2e-3)
  assert gabor.centre_frequencies() == pytest.approx([0.4, 0.2, 0.1, 0.05])


def test_gabor_spectral_peaks_at_centre_frequencies_and_orientations():
  bank = gabor.filter_bank()
  assert bank.shape[0] == 48
  n = 1024
  freqs = np.fft.fftfreq(n)
  for i in range(24):
    m, o = divmod(i, 6)
    f, t = 0.4 / 2**m, o * np.pi / 6
    # The complex filter real + j imag (the two halves of the bank): one spectral lobe.
    # (The finest real part alone peaks at Nyquist: its two lobes at +-0.4 alias there.)
    spec = np.abs(np.fft.fft2(bank[i] + 1j * bank[24 + i], s=(n, n)))
    ky, kx = np.unravel_index(np.argmax(spec), spec.shape)
    got = np.array([freqs[kx], freqs[ky]])
    want = np.array([f * np.cos(t), f * np.sin(t)])
    assert np.abs(got - want).max() <= 2.0 / n, (i, got, want)


def test_gabor_flat_image_gives_zero_response():
  bank = gabor.GaborBank(24)
  (r,) = bank.responses(np.full((1, 24, 24, 3), 128, np.uint8))
  assert r.shape == (1, 24, 24, 48)
  # Where the finest filters (support +-6 px) do not reach the zero-padded border, a
  # flat image excites neither their zero-mean real nor their odd imaginary parts...
  centre = np.asarray(r)[0, 12, 12]
  finest = np.r_[0:6, 24:30]
  assert np.abs(centre[finest]).max() < 1e-5
  # ...while a coarser one (support +-45 px) sees the border.
  assert np.abs(centre[18:24]).max() > 1e-3


def _normalised_torch(images):
  x = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)
  mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
  std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
  return (x - mean) / std


def test_alexnet_bank_equals_torch_conv1_conv2_before_relu():
  torch.manual_seed(0)
  features = torch.nn.Sequential(  # torchvision's AlexNet.features[:4]
      torch.nn.Conv2d(3, 64, 11, 4, 2), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2),
      torch.nn.Conv2d(64, 192, 5, padding=2))
  sd = {f'features.{k}': v.numpy() for k, v in features.state_dict().items()}
  conv1, conv2 = cnn_bank.alexnet_from_torch(sd)
  bank = cnn_bank.TwoLayerBank('alexnet', conv1, conv2, 0, 67, 'test')
  images = np.random.default_rng(0).integers(0, 256, (2, 67, 67, 3), dtype=np.uint8)
  r1, r2 = bank.responses(images)
  with torch.no_grad():
    x = _normalised_torch(images)
    t1 = features[0](x)
    t2 = features[3](features[2](features[1](t1)))
  np.testing.assert_allclose(r1, t1.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(r2, t2.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-4)
  assert bank.layer_sizes == (64, 192)


def test_resnet_stem_bank_equals_the_models_own_pre_relu_units():
  # One stage of one block: the stem is all the bank reads (and it compiles fast).
  model = models.ResNet(stage_sizes=(1,), block_cls=BasicBlock, num_classes=None, width=8)
  images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  rng = np.random.default_rng(2)
  variables = jax.tree.map(lambda v: jnp.asarray(rng.uniform(0.5, 1.5, v.shape), v.dtype),
                           variables)  # non-trivial BN statistics and scales
  bank = cnn_bank.resnet_stem_bank(variables, 32)
  r1, r2 = bank.responses(images)
  x = (images.astype(np.float32) - np.array(IMAGENET_MEAN) * 255) / (np.array(IMAGENET_STD) * 255)
  names = ('conv1', 'layer1_0/conv1')
  _, inter = jax.jit(lambda v, x: model.apply(
      v, x, train=False, mutable=['intermediates'],
      capture_intermediates=lambda mdl, method: (method == '__call__'
                                                 and '/'.join(mdl.scope.path) in names)))(
          variables, jnp.asarray(x, jnp.float32))
  inter = inter['intermediates']  # each unit returns its pre-ReLU output
  got = {'conv1': inter['conv1']['__call__'][0],
         'layer1_0/conv1': inter['layer1_0']['conv1']['__call__'][0]}
  np.testing.assert_allclose(r1, got['conv1'], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(r2, got['layer1_0/conv1'], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(cnn_bank.channel_weights(bank.layer_sizes)[[0, 8]], [1 / 8, 1 / 8])
