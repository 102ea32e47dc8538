"""SpotTune global-k, step 2: the k blocks the global-k run's policy fine-tunes most on
the training images (adafilter_jax/systems/global_k.py) fine-tuned for every image, every other
block frozen, no policy net; trained with SpotTune's recipe from the pretrained weights.
The experiments grid fills `spottune.blocks` from the same dataset and seed's
spottune_global_k run; by hand:

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=spottune_fixed \
      --config.spottune.blocks=layer3_5,layer4_1,layer4_2
"""
from configs.methods import variant

apply = variant('spottune', 'spottune_fixed')
