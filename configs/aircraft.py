"""AdaFilter on FGVC-Aircraft, Visual Decathlon version (3334 train / 3333 eval, 100 classes).

The paper's recipe (configs/base.py) on this dataset. Run, once the data is prepared
(the ImageNet weights come from the Hugging Face Hub on first use; docs/training.md):

  python main.py --config configs/aircraft.py

Expected (Table 2, ResNet-50, top-1 %): AdaFilter 55.41. Standard
fine-tuning, 52.59:

  python main.py --config configs/aircraft.py --config.method=finetune
"""
from configs import base


def get_config():
  return base.for_dataset('aircraft')
