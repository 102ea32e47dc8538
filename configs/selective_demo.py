"""Offline demo of selective joint fine-tuning on handwritten digits, minutes on a CPU.

  python main.py --config configs/selective_demo.py

Source: digits 0-4 (721 training images; the demo first pretrains a small ResNet-18,
width 16, on them, standing in for ImageNet weights). Target: digits 5-9 with 10
training images per class. The CNN bank is the stem of those source weights. It compares
selective joint fine-tuning with fine-tuning without source, with a random source subset
as large as the selected one, and with the whole source, all from the same weights with
the same schedule; writes runs/selective_demo/{source,<mode>/...,results.json} and
<mode>/neighbours.png. docs/selective.md has the figures it printed.
"""
import ml_collections

from adafilter_jax import methods
from configs import demo


def get_config():
  c = demo.get_config()  # model, data and source-pretraining settings of the AdaFilter demo
  methods.apply_recipe('selective_joint', c)
  c.name = 'selective_demo'
  c.job = 'selective_demo'  # main.py runs adafilter_jax/apps/demos/selective.py
  s = c.selective
  s.source.name = 'digits/source'
  s.source.image_size = s.source.resize_size = 32
  s.source.crop_scale, s.source.flip = (0.6, 1.0), False
  s.bank = 'resnet_stem'      # the stem of the demo's own source weights
  s.bank_image_size = s.bank_resize_size = 32
  s.num_bins = 16             # 256 conv1 pixels per 32-px image: fewer bins than 100
  s.index_dir = 'runs/selective_demo/index'
  s.k0 = 20                   # 50 targets x 20 out of 721 source images
  s.rounds = 3
  s.iterations = 150          # updates per round
  s.decay_iterations = (100,)
  s.iter_size = 1
  s.target_batch = 10
  s.checkpoint_every = 50
  s.show_targets = 5
  c.selective_demo = ml_collections.ConfigDict()
  c.selective_demo.modes = ('selective', 'none', 'random', 'all')
  return c
