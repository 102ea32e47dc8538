r"""Retrieval speed: the distance kernel and the descriptors.

  python -m adafilter_jax.apps.bench.selective [--targets 1024 --chunk 2048 --channels 256 --bins 100]

- matmul ceiling: the best float32 matmul rate of this device, measured in the same run;
- distance kernel (distance.merge_chunk: Eq. 1 as a matmul + the running top-k): pairs/s
  and GFLOP/s as a fraction of that ceiling (2 * D flops per pair, D = 2 x channels x bins);
- the naive per-pair form (distance.pairwise_naive), pairs/s;
- descriptors (bank responses + equal-mass histograms), images/s for each bank;
- the extrapolation to a full ImageNet source (1.28 M) against Caltech-256-30 (7680).
"""
import os
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import models
from adafilter_jax.systems.selective import cnn_bank, descriptor, distance, gabor

FLAGS = flags.FLAGS
flags.DEFINE_integer('targets', 1024, 'target images in the distance kernel')
flags.DEFINE_integer('chunk', 2048, 'source images per chunk')
flags.DEFINE_integer('channels', 256, 'filters (torchvision AlexNet conv1+conv2: 64+192)')
flags.DEFINE_integer('bins', 100, 'bins per filter')
flags.DEFINE_integer('k', 1000, 'neighbours kept')
flags.DEFINE_integer('image_size', 224, 'descriptor input size')
flags.DEFINE_integer('batch', 32, 'descriptor batch')
flags.DEFINE_integer('repeats', 5, 'timed repetitions (best taken)')

IMAGENET, CALTECH30 = 1_281_167, 7680


def best_time(fn, repeats: int) -> float:
  jax.block_until_ready(fn())  # compile
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t)
  return min(times)


def matmul_ceiling(repeats: int) -> float:
  """GFLOP/s: the best of a few large float32 matmuls."""
  best = 0.0
  for m, k, n in ((2048, 2048, 2048), (4096, 4096, 4096), (1024, 8192, 2048)):
    a = jnp.ones((m, k), jnp.float32)
    b = jnp.ones((k, n), jnp.float32)
    f = jax.jit(lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST))
    best = max(best, 2 * m * k * n / best_time(lambda: f(a, b), repeats) / 1e9)
  return best


def _hist(rng, n, c, b):
  x = rng.random((n, c, b), np.float32) ** 3
  return jnp.asarray(x / x.sum(-1, keepdims=True))


def distance_rates(repeats: int) -> dict:
  rng = np.random.default_rng(0)
  nt, ns, c, b = FLAGS.targets, FLAGS.chunk, FLAGS.channels, FLAGS.bins
  w = jnp.full((c,), 1.0 / c, jnp.float32)
  ft, ct = distance.target_features(_hist(rng, nt, c, b), w)
  fs, cs = distance.source_features(_hist(rng, ns, c, b), w)
  best_d = jnp.full((nt, FLAGS.k), jnp.inf)
  best_i = jnp.zeros((nt, FLAGS.k), jnp.int32)
  t = best_time(lambda: distance.merge_chunk(best_d, best_i, ft, ct, fs, cs, jnp.int32(0),
                                             FLAGS.k), repeats)
  flops = 2 * nt * ns * ft.shape[1]
  small_t, small_s = 64, 64
  a, p = _hist(rng, small_t, c, b), _hist(rng, small_s, c, b)
  naive = jax.jit(distance.pairwise_naive)
  t_naive = best_time(lambda: naive(a, p, w), repeats)
  return {'pairs_per_s': nt * ns / t, 'gflops': flops / t / 1e9,
          'naive_pairs_per_s': small_t * small_s / t_naive}


def _stem_variables():
  model = models.backbone('resnet50', None)
  return jax.device_get(jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 64, 64, 3))))


def descriptor_rates(repeats: int) -> dict:
  """images/s of responses + histograms per bank, random weights of the real shapes."""
  rng = np.random.default_rng(0)
  size, bs = FLAGS.image_size, FLAGS.batch
  images = jnp.asarray(rng.integers(0, 256, (bs, size, size, 3)), jnp.uint8)
  alex = cnn_bank.alexnet_from_torch({
      'features.0.weight': rng.normal(0, .05, (64, 3, 11, 11)), 'features.0.bias': np.zeros(64),
      'features.3.weight': rng.normal(0, .02, (192, 64, 5, 5)), 'features.3.bias': np.zeros(192)})
  banks = {'gabor': gabor.GaborBank(size),
           'resnet50_stem': cnn_bank.resnet_stem_bank(_stem_variables(), size),
           'alexnet': cnn_bank.TwoLayerBank('alexnet', *alex, 0, size, 'random')}
  out = {}
  for name, bank in banks.items():
    num_bins = 32 if name == 'gabor' else 100
    bins = descriptor.fit([bank.responses(images)], num_bins)
    t = best_time(lambda: descriptor.histograms(bank.responses(images), bins), repeats)
    out[name] = bs / t
  return out


def report(ceiling: float, dist: dict, desc: dict) -> str:
  d = 2 * FLAGS.channels * FLAGS.bins
  lines = [
      f'device: {jax.devices()[0].device_kind} ({jax.default_backend()}), '
      f'{jax.device_count()} device(s), load average {os.getloadavg()[0]:.1f}',
      f'matmul ceiling (float32): {ceiling:.1f} GFLOP/s',
      f'distance kernel ({FLAGS.targets} targets x {FLAGS.chunk} sources per chunk, D = {d}, '
      f'top-{FLAGS.k}): {dist["pairs_per_s"]:.3g} pairs/s, {dist["gflops"]:.1f} GFLOP/s = '
      f'{dist["gflops"] / ceiling:.0%} of the ceiling',
      f'naive per-pair form: {dist["naive_pairs_per_s"]:.3g} pairs/s '
      f'({dist["pairs_per_s"] / dist["naive_pairs_per_s"]:.0f}x slower)',
      f'descriptors at {FLAGS.image_size} px, batch {FLAGS.batch} (responses + histograms, '
      'images already decoded): ' + ', '.join(f'{k} {v:.1f} img/s' for k, v in desc.items())]
  pairs = IMAGENET * CALTECH30
  lines.append(f'extrapolated, ImageNet train (1.28 M) vs Caltech-256-30 ({CALTECH30} targets): '
               f'distances {pairs / dist["pairs_per_s"] / 3600:.2f} h; source descriptors ' +
               ', '.join(f'{k} {IMAGENET / v / 3600:.1f} h' for k, v in desc.items()))
  return '\n'.join(lines)


def main(argv):
  del argv
  ceiling = matmul_ceiling(FLAGS.repeats)
  dist = distance_rates(FLAGS.repeats)
  desc = descriptor_rates(max(1, FLAGS.repeats // 2))
  print(report(ceiling, dist, desc), flush=True)


if __name__ == '__main__':
  app.run(main)
