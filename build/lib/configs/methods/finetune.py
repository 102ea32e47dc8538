"""Standard fine-tuning (Table 2): every parameter of the pretrained ResNet-50 trains.

  python main.py --config configs/methods/finetune.py:caltech256_30
"""
from configs.methods import on_dataset


def apply(c):
  c.method = 'finetune'
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'finetune')
