"""Visual Decathlon: ImageNet (ILSVRC 2012 at 72 px, 1000 classes), with the Decathlon ResNet-26 and SpotTune's
recipe (configs/decathlon/__init__.py); SpotTune's Table 3 numbers in `paper_top1`.

  python main.py --config configs/decathlon/imagenet12.py [--config.method=adafilter]
"""
from configs import decathlon

after_recipe = decathlon.after_recipe


def get_config():
  return decathlon.domain_config('imagenet12')
