"""The tests' one shrunk config: the paper's (configs/base.py) as a run of seconds on the
offline digits, optionally with a method's recipe (adafilter_jax/methods/) applied on top, as
configs/transfer.py applies one to a dataset's config."""
import os
import tempfile

import ml_collections

from adafilter_jax import methods
from configs import base

# The digits builder prepares itself offline; one shared copy for the whole test session.
DATA_DIR = os.environ.get('ADAFILTER_TEST_TFDS_DIR',
                          os.path.join(tempfile.gettempdir(), 'adafilter_test_tfds'))


def config(method: str = 'finetune', *, recipe: str = '', epochs: int = 1,
           arch: str = 'resnet10', width: int = 8, gated_layers: str = 'layer4',
           **overrides) -> ml_collections.ConfigDict:
  """A ResNet (`arch`, `width`; AdaFilter's gate 8 wide, gating `gated_layers`: 'layer4'
  keeps its compile short) on the 16 px digits 5-9, batch 10, `epochs` epochs, no
  pretrained weights, trained with `method`; or, given a `recipe`, that recipe's method,
  settings and schedule on it. `overrides`: dotted keys, checked as main.py checks them."""
  c = base.get_config()
  c.name = 'tiny'
  c.method = method
  c.pretrained = ''
  c.model.arch, c.model.width = arch, width
  c.adafilter.gated_layers, c.adafilter.embed_dim, c.adafilter.hidden_dim = gated_layers, 8, 8
  c.data.name, c.data.data_dir = 'digits_target', DATA_DIR
  c.data.image_size = c.data.resize_size = 16
  c.batch_size, c.eval_batch_size = 10, 128
  c.num_epochs = epochs
  c.optim.decay_epochs = (1,)
  c.progress_bar = False
  c.log_every_steps = 1
  if recipe:
    methods.apply_recipe(recipe, c)
  c.lock()  # a mistyped override fails, as in main.py
  c.update_from_flattened_dict(overrides)
  return c
