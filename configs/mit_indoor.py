"""AdaFilter on MIT Indoor-67 (5360 train / 1340 eval, 67 classes).

The paper's recipe (configs/base.py) on this dataset. Run, once the data is prepared
(the ImageNet weights come from the Hugging Face Hub on first use; docs/training.md):

  python main.py --config configs/mit_indoor.py

Expected (Table 2, ResNet-50, top-1 %): AdaFilter 77.53. Standard
fine-tuning, 76.42:

  python main.py --config configs/mit_indoor.py --config.method=finetune
"""
from configs import base


def get_config():
  return base.for_dataset('mit_indoor')
