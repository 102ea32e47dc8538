"""Offline demo: transfer from handwritten digits 0-4 to 5-9 with 10 images per class.

  python main.py --config configs/demo.py
  python main.py --config configs/demo.py --config.demo.methods=finetune  # one method

Runs offline (the images ship with scikit-learn; the `digits` dataset prepares itself on
first use). It pretrains a small ResNet-18 (width 16) from scratch on the source task,
then trains AdaFilter and standard fine-tuning on the target task from it, and prints
both target accuracies, and writes runs/demo/report/. What it prints (seed 0,
deterministic on one machine) is in the README's Quick start, where CI keeps it true
(.ci/run runs the demo; adafilter_jax/apps/demos/check.py compares). With 50 training
images of 32 pixels this is not the paper's regime: the demo shows the machinery, not
AdaFilter's advantage. Milder augmentation than the ImageNet recipe: a cropped or
flipped digit changes class.
"""
import ml_collections

from configs import base


def get_config():
  c = base.get_config()
  c.name = 'demo'
  c.job = 'demo'  # main.py runs adafilter_jax.apps.demos.digits.run: the stages below
  # The demo trains each of demo.methods (below) from its own source-task weights: it
  # sets these two itself, and refuses an override it would ignore.
  c.method = ''
  c.pretrained = ''
  c.model.arch = 'resnet18'
  c.model.width = 16
  c.adafilter.embed_dim = 32
  c.adafilter.hidden_dim = 32

  c.data.name = 'digits_target'
  c.data.image_size = 32
  c.data.resize_size = 32  # eval: the whole 32x32 image
  # Digits change meaning under flips and large crops (a cropped 8 is a 0 or a 3).
  c.data.crop_scale = (0.6, 1.0)
  c.data.flip = False
  c.batch_size = 10        # 50 target training images: 5 steps an epoch
  c.eval_batch_size = 128
  c.num_epochs = 30
  c.optim.decay_epochs = (20,)

  c.demo = ml_collections.ConfigDict()
  c.demo.methods = ('adafilter', 'finetune')
  c.demo.source = 'digits_source'
  c.demo.source_epochs = 15
  c.demo.source_batch_size = 32
  c.demo.source_lr = 0.1   # from scratch: a larger rate than fine-tuning's
  c.demo.source_decay_epochs = (10,)
  return c
