"""AdaFilter on Stanford Dogs (12000 train / 8580 eval, 120 classes).

The paper's recipe (configs/base.py) on this dataset. Run, once the data is prepared
(the ImageNet weights come from the Hugging Face Hub on first use; docs/training.md):

  python main.py --config configs/stanford_dogs.py

Expected (Table 2, ResNet-50, top-1 %): AdaFilter 82.44. Standard
fine-tuning, 77.47:

  python main.py --config configs/stanford_dogs.py --config.method=finetune
"""
from configs import base


def get_config():
  return base.for_dataset('stanford_dogs')
