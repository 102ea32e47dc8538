"""AdaFilter on Caltech-256, 60 training images per class (15360 train / 5120 eval, 256 classes).

The paper's recipe (configs/base.py) on this dataset. Run, once the data is prepared
(the ImageNet weights come from the Hugging Face Hub on first use; docs/training.md):

  python main.py --config configs/caltech256_60.py

Expected (Table 2, ResNet-50, top-1 %): AdaFilter 84.31. Standard
fine-tuning, 82.25:

  python main.py --config configs/caltech256_60.py --config.method=finetune
"""
from configs import base


def get_config():
  return base.for_dataset('caltech256_60')
