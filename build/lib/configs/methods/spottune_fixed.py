"""SpotTune global-k, step 2: the k blocks the global-k run fine-tuned most (its eval
gate statistics) fine-tuned for every image, every other block frozen, no policy net;
trained with SpotTune's recipe from the pretrained weights. The experiments grid fills
`spottune.blocks` from the same dataset and seed's spottune_global_k run; by hand:

  python main.py --config configs/methods/spottune_fixed.py:caltech256_30 \
      --config.spottune.blocks=layer3_5,layer4_1,layer4_2
"""
from configs.methods import on_dataset
from configs.methods import spottune


def apply(c):
  spottune.apply(c)
  c.method = 'spottune_fixed'
  return c


def get_config(dataset: str = 'caltech256_30'):
  return on_dataset(dataset, 'spottune_fixed')
