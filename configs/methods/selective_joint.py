"""Selective joint fine-tuning (Ge & Yu, CVPR 2017): ImageNet as the source, source images
retrieved by the conv1+conv2 responses of the converted ResNet's stem, 5 rounds of
hard-sample mining, 10 + 10 images per batch accumulated 10 times per update.

  python main.py --config configs/methods/selective_joint.py:caltech256_30
  # the Gabor bank, or torchvision's AlexNet as the paper's bank:
  #   --config.selective.bank=gabor
  #   --config.selective.bank=alexnet
  #     --config.selective.bank_weights=weights/alexnet-owt-7be5be79.pth

ImageNet must be prepared (TFDS manual `imagenet2012`, docs/data.md); K0 per dataset is
the paper's (Sec. 4.2). See docs/selective.md.
"""
from adafilter_jax.methods import selective_joint
from configs.methods import on_dataset

K0 = {'stanford_dogs': 100, 'caltech256_30': 100, 'caltech256_60': 100, 'mit_indoor': 100}


def apply(c):
  c.method = 'selective_joint'
  c.selective = selective_joint.default_config()
  c.selective.k0 = K0.get(c.name, 100)
  c.selective.source.data_dir = c.data.data_dir
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'selective_joint')
