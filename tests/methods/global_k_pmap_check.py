"""Run with 2 fake CPU devices (test_spottune.py does): SpotTune global-k's auxiliary
loss, as the train step uses it (per-device gradient, then pmean over devices), equals
the loss of the global batch on one device, in value and gradient. Prints the largest
differences as JSON."""
import json

import jax
import numpy as np

from adafilter_jax import methods
from tests.methods import tiny


def main():
  assert jax.local_device_count() == 2, jax.devices()
  config = tiny.config('spottune_global_k')
  config.spottune.k, config.spottune.lambda_k, config.spottune.lambda_e = 2, 0.3, 0.7
  aux = lambda gates, config, axis_name: methods.get('spottune_global_k').loss.fn(
      methods.LossContext(gates=gates, config=config, axis_name=axis_name))
  rng = np.random.RandomState(0)
  x = rng.randn(8, 3).astype(np.float32)
  theta = rng.randn(4, 3).astype(np.float32)  # 4 blocks
  # Per block, the usage of each image; device 0 and 1 see very different images.
  x[:4] += 2.0

  def loss(theta, x, axis_name):
    usage = jax.nn.sigmoid(x @ theta.T)  # [B, blocks]
    gates = {f'block{l}': usage[:, l:l + 1] for l in range(theta.shape[0])}
    return aux(gates, config, axis_name)

  value, grad = jax.value_and_grad(loss)(theta, x, None)

  def device_step(theta, x):  # as train/steps.py: grad of the local loss, then pmean
    v, g = jax.value_and_grad(loss)(theta, x, 'batch')
    return jax.lax.pmean((v, g), 'batch')

  p_value, p_grad = jax.pmap(device_step, axis_name='batch', in_axes=(None, 0))(
      theta, x.reshape(2, 4, 3))
  print(json.dumps({'value': float(np.max(np.abs(p_value - value))),
                    'grad': float(np.max(np.abs(p_grad - grad))),
                    'grad_norm': float(np.max(np.abs(grad)))}))


if __name__ == '__main__':
  main()
