"""A method's preparation step (`Method.prepare`), run by the loop before the first step:
its constants, read from the workdir or computed from the starting model and written
there, so that a resumed run uses what the first one did."""
import os
from typing import Callable

import jax
import numpy as np

from adafilter_jax import methods
from adafilter_jax.data import pipeline
from adafilter_jax.train import keys
from adafilter_jax.train import state as state_lib
from adafilter_jax.train import steps as steps_lib

CONSTANTS = 'method_constants.npz'


def _train_outputs(config, parallel, model, variables) -> Callable:
  """names -> an iterator of the model's sown intermediates `names` and the labels over
  the training images, batch by batch (eval mode, the evaluation transform)."""
  placed = parallel.put_state(variables)

  def train_outputs(names):
    step = parallel.eval_step(steps_lib.make_outputs_step(model, config, tuple(names),
                                                          parallel.bn_axis_name))
    key = keys.train_outputs(config.seed)
    for batch in pipeline.make_eval_iter(config.data, global_batch_size=config.eval_batch_size,
                                         split=pipeline.splits(config.data)[0]):
      out = parallel.get_outputs(step(placed, parallel.put_batch(batch), key))
      keep = out['mask'].astype(bool)
      yield {n: v[keep] for n, v in out['outputs'].items()}, out['label'][keep]

  return train_outputs


def constants(method, config, workdir: str, num_classes: int, parallel, model,
              state, step: int) -> dict:
  """The method's constants ({} without a `prepare` step); `state` the host state at
  `step`. A step that keeps nothing (returns {}) runs at every start."""
  if method.prepare is None:
    return {}
  path = os.path.join(workdir, CONSTANTS)
  if os.path.exists(path):
    with np.load(path) as f:
      return dict(f)
  if step == 0:
    start = {'params': state.params, 'batch_stats': state.batch_stats}
  else:  # resumed, the file lost: the starting model again
    start = state_lib.init_variables(model, config, config.data.image_size,
                                     state_lib.load_pretrained(config))
  out = {k: np.asarray(v) for k, v in method.prepare(methods.Preparation(
      config, num_classes, _train_outputs(config, parallel, model, start), model,
      workdir)).items()}
  if out and jax.process_index() == 0:
    tmp = path + '.tmp.npz'
    np.savez(tmp, **out)
    os.replace(tmp, path)
  return out
