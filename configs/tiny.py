"""A tiny AdaFilter run on the offline digits (5-9), from scratch: seconds an epoch on a
CPU. What the fault-injection command trains and kills by default:

  python -m adafilter_jax.apps.faults --config configs/tiny.py

Not a result: a ResNet-10 (one block a stage) of width 8 on 16-pixel images, three epochs.
"""
from configs import base


def get_config():
  c = base.get_config()
  c.name = 'tiny'
  c.pretrained = ''
  c.model.width = 8
  c.model.arch = 'resnet10'
  # Gating only the last stage keeps AdaFilter's compile short.
  c.adafilter.gated_layers, c.adafilter.embed_dim, c.adafilter.hidden_dim = 'layer4', 8, 8
  c.data.name = 'digits_target'
  c.data.image_size = c.data.resize_size = 16
  c.batch_size, c.eval_batch_size = 10, 128  # 50 training images: 5 steps an epoch
  c.num_epochs = 3
  c.optim.decay_epochs = (2,)
  c.progress_bar = False
  c.log_every_steps = 1
  return c
