"""A tiny, fast version of the paper's config on the offline digits data, for tests."""
import os
import tempfile

from configs import base

# The digits builder prepares itself offline; one shared copy for the whole test session.
DATA_DIR = os.environ.get('ADAFILTER_TEST_TFDS_DIR',
                          os.path.join(tempfile.gettempdir(), 'adafilter_test_tfds'))


def config(method='finetune', epochs=1, **overrides):
  c = base.get_config()
  c.name = 'tiny'
  c.method = method
  c.pretrained = ''
  c.model.arch, c.model.width = 'resnet18', 8
  # Gating only the last stage keeps AdaFilter's compile short.
  c.adafilter.gated_layers, c.adafilter.embed_dim, c.adafilter.hidden_dim = 'layer4', 8, 8
  c.data.name, c.data.data_dir = 'digits_target', DATA_DIR
  c.data.image_size = c.data.resize_size = 16
  c.batch_size, c.eval_batch_size = 10, 128
  c.num_epochs = epochs
  c.optim.decay_epochs = (1,)
  c.progress_bar = False
  c.log_every_steps = 1
  c.lock()  # a mistyped override fails, as in main.py
  c.update_from_flattened_dict(overrides)
  return c
