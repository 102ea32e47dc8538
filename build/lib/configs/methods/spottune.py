"""SpotTune (Guo et al., CVPR 2019) with its ResNet-50 recipe: per image and residual
block, the frozen block or a fine-tuned copy, picked by a policy ResNet (64/128/256/512)
with the straight-through Gumbel-softmax (tau 5; argmax at test time). SGD momentum
0.9, lr 0.01, policy lr 1e-4, batch 32, 40 epochs, x0.1 at epochs 15 and 30.

  python main.py --config configs/methods/spottune.py:caltech256_30
"""
from adafilter_jax.methods import spottune
from configs.methods import on_dataset


def apply(c):
  c.method = 'spottune'
  c.spottune = spottune.default_config()
  c.batch_size = 32
  c.num_epochs = 40
  c.optim.lr = 0.01
  c.optim.gate_lr = 1e-4  # the policy net's rate
  c.optim.decay_epochs = (15, 30)
  c.optim.decay_factor = 0.1
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'spottune')
