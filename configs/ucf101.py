"""AdaFilter on UCF-101 dynamic images, Visual Decathlon version (101 classes; the paper:
7629 train / 1908 eval; TFDS's split, which runs: 7585 / 1952).

The paper's recipe (configs/base.py) on this dataset. Run, once the data is prepared
(the ImageNet weights come from the Hugging Face Hub on first use; docs/training.md):

  python main.py --config configs/ucf101.py

Expected (Table 2, ResNet-50, top-1 %): AdaFilter 76.99. Standard
fine-tuning, 73.10:

  python main.py --config configs/ucf101.py --config.method=finetune
"""
from configs import base


def get_config():
  return base.for_dataset('ucf101')
