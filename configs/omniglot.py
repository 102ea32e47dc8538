"""AdaFilter on Omniglot, Visual Decathlon version (1623 classes; the paper: 19476 train /
6492 eval; TFDS's split, which runs: 17853 / 6492).

The paper's recipe (configs/base.py) on this dataset. Run, once the data is prepared
(the ImageNet weights come from the Hugging Face Hub on first use; docs/training.md):

  python main.py --config configs/omniglot.py

Expected (Table 2, ResNet-50, top-1 %): AdaFilter 87.46. Standard
fine-tuning, 87.06:

  python main.py --config configs/omniglot.py --config.method=finetune
"""
from configs import base


def get_config():
  return base.for_dataset('omniglot')
