"""A tiny joint model and config for the selective tests (one block, width 4, 16 px)."""
import numpy as np

from adafilter_jax import models
from adafilter_jax.models.resnet import BasicBlock
from adafilter_jax.systems.selective import joint
from tests import tiny_config

SIZE = 16  # tiny_config's image size


def config(**selective):
  """The selective recipe on the tests' tiny config; `selective`: its settings. Its stem
  bank reads the trunk's pretrained weights: `pretrained` names some (never loaded here)."""
  return tiny_config.config(recipe='selective_joint', pretrained='weights/resnet', **{
      'optim.lr': 0.1, **{f'selective.{k}': v for k, v in selective.items()}})


def model(num_target=3, num_source=4, bn_axis_name=None):
  trunk = models.ResNet(stage_sizes=(1,), block_cls=BasicBlock, num_classes=None, width=4,
                        bn_axis_name=bn_axis_name)
  return joint.JointNet(trunk, num_target, num_source)


class ArraySplit:
  """The images.Split interface over in-memory arrays (augmentation: a seeded flip)."""

  def __init__(self, images, labels, name='fake'):
    self.images, self.labels, self.name = images, np.asarray(labels, np.int32), name

  def __len__(self):
    return len(self.images)

  def identity(self):
    return {'name': self.name, 'num': len(self)}

  def eval_images(self, indices):
    return self.images[np.asarray(indices)]

  def train_images(self, indices, seeds):
    out = self.images[np.asarray(indices)].copy()
    for j, s in enumerate(seeds):
      if np.random.default_rng(s).random() < 0.5:
        out[j] = out[j, :, ::-1]
    return out

  def eval_batches(self, batch_size):
    return (self.images[i:i + batch_size] for i in range(0, len(self), batch_size))


def random_split(n, classes, seed, name='fake'):
  rng = np.random.default_rng(seed)
  labels = np.arange(n) % classes
  images = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
  images[..., 0] = (labels * 60)[:, None, None]  # learnable: the red channel says the class
  return ArraySplit(images, labels, name)
