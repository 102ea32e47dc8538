"""A new method is one module: written here to a temporary directory, it registers
itself, carries its recipe, and trains through main.py, with no other file touched."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from adafilter_jax import methods
from adafilter_jax.train import loop
from adafilter_jax.train import state as state_lib
from configs import tiny as tiny_recipe
from tests import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIGHT = 30.0

# The whole method: a toy regulariser on the head's kernel, its registration and its
# recipe (the config main.py runs: one step of 50 images).
TOY = textwrap.dedent(f'''
    """Fine-tuning plus {WEIGHT} * ||head kernel||^2."""
    import jax.numpy as jnp

    from adafilter_jax import methods
    from adafilter_jax.methods import finetune
    from configs import tiny


    def loss(ctx):
      return {WEIGHT} * jnp.sum(jnp.square(ctx.params['fc']['kernel']))


    TOY = methods.register(methods.Method(name='toy_head_l2', build_model=finetune.build_model,
                                          loss=methods.Loss(loss)))


    def get_config():
      c = tiny.get_config()
      c.method = TOY.name
      c.num_epochs, c.batch_size, c.optim.decay_epochs = 1, 50, (1,)
      return c
''')


def _one_step_config(method):
  c = tiny_recipe.get_config()
  c.method, c.num_epochs, c.batch_size, c.optim.decay_epochs = method, 1, 50, (1,)
  c.data.data_dir = tiny_config.DATA_DIR
  return c


def _first_record(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return json.loads(f.readline())


def test_a_method_in_one_new_module_trains_through_main(tmp_path):
  module = tmp_path / 'toy_method.py'
  module.write_text(TOY)
  proc = subprocess.run(
      [sys.executable, 'main.py', '--config', str(module), f'--workdir={tmp_path / "toy"}',
       f'--config.data.data_dir={tiny_config.DATA_DIR}'],
      cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'), capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  toy = _first_record(tmp_path / 'toy')
  assert toy['step'] == 1
  assert 'toy_head_l2' not in methods.names()  # registered in main.py's process only

  # The reference: plain fine-tuning's first step, on the same batch from the same start:
  # its loss is the cross-entropy alone, the toy's adds the regulariser of the start.
  config = _one_step_config('finetune')
  loop.train_and_evaluate(config, str(tmp_path / 'finetune'))
  ce = _first_record(tmp_path / 'finetune')['train_loss']
  model = methods.get('finetune').build_model(config, 5, None)
  start = state_lib.init_variables(model, config, config.data.image_size, None)
  kernel = np.asarray(start['params']['fc']['kernel'], np.float64)
  np.testing.assert_allclose(toy['train_loss'], ce + WEIGHT * np.sum(kernel ** 2), rtol=1e-5)
