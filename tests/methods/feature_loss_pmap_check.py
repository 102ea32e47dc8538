"""Run with 2 fake CPU devices (test_feature_losses_pmap.py does): BSS and DELTA under
pmap against one device on the global batch. Toy part: features (BSS) or feature maps
(DELTA) x @ theta, each loss's value and gradient as the train step forms them
(per-device gradient, pmean). Real part: one train step of a tiny ResNet-18 with BSS
under pmap vs jit on one device: its params, and its penalty (the step's loss minus its
cross-entropy). Prints the differences as JSON."""
import json

import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax import methods
from adafilter_jax.methods import delta
from adafilter_jax.train import parallel, steps
from adafilter_jax.train import state as state_lib
from tests.methods import tiny


def _toy(loss):
  """loss(theta, x, axis_name) on 8 rows of x, one device vs 2 devices of 4 rows."""
  rng = np.random.RandomState(0)
  x = rng.randn(8, 5).astype(np.float32)
  x[:4] += 3.0  # the devices' halves differ
  theta = rng.randn(5, 6).astype(np.float32)
  value, grad = jax.value_and_grad(loss)(theta, x, None)

  def device(theta, x):
    v, g = jax.value_and_grad(loss)(theta, x, 'batch')
    return jax.lax.pmean((v, g), 'batch')

  p_value, p_grad = jax.pmap(device, axis_name='batch', in_axes=(None, 0))(
      theta, x.reshape(2, 4, 5))
  return {'value': float(np.max(np.abs(p_value - value))), 'value_scale': float(value),
          'grad': float(np.max(np.abs(p_grad - grad))),
          'grad_scale': float(np.max(np.abs(grad)))}


def _step(config):
  method = methods.get('bss')
  rng = np.random.RandomState(1)
  batch = {'image': rng.randint(0, 256, (8, 16, 16, 3)).astype(np.uint8),
           'label': rng.randint(0, 5, 8).astype(np.int32)}
  key, out, variables = jax.random.key(0), {}, None
  for name in ('single', 'pmap'):
    par = parallel.Parallel('jit' if name == 'single' else 'pmap')
    model = method.build_model(config, 5, par.bn_axis_name)
    variables = variables or tiny.variables(model, np.zeros((1, 16, 16, 3), np.float32),
                                            train=False)
    state = state_lib.create_state(method, model, variables, config, 10)
    step = steps.make_train_step(method, config, par.bn_axis_name)
    if name == 'single':
      new, metrics = jax.device_get(jax.jit(step)(state, batch, key, None))
    else:
      new, metrics = par.train_step(step)(par.put_state(state), par.put_batch(batch), key,
                                          None)
      new, metrics = par.get_state(new), par.metrics(metrics)
    out[name] = (new.params, metrics['loss'] - metrics['ce'])  # the penalty's value
  return out


def _delta_maps(theta, x, axis):
  """DELTA's feature_loss on maps [B, 2, 3, 1] from x @ theta, the pretrained's fixed."""
  config = tiny.config('delta')
  config.delta.alpha, config.delta.attention = 0.3, 'uniform'
  maps = (x @ theta).reshape(-1, 2, 3, 1)
  return delta.feature_loss({'tap': maps}, {'tap': jnp.ones_like(maps)}, config, axis)


def main():
  assert jax.local_device_count() == 2, jax.devices()
  config = tiny.config('bss')
  config.bss.eta, config.bss.k = 0.7, 2
  bss_loss = methods.get('bss').loss.fn
  report = {'bss': _toy(lambda theta, x, axis: bss_loss(methods.LossContext(
                tapped={'features': x @ theta}, config=config, axis_name=axis))),
            'delta': _toy(_delta_maps)}
  config.bss.eta = 0.01  # the penalty's gradient about the cross-entropy's
  out = _step(config)
  report['step'] = max(jax.tree.leaves(jax.tree.map(
      lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))),
      out['pmap'][0], out['single'][0])))
  report['step_penalty'] = float(out['single'][1])
  report['step_penalty_diff'] = abs(float(out['pmap'][1]) - float(out['single'][1]))
  print(json.dumps(report))


if __name__ == '__main__':
  main()
