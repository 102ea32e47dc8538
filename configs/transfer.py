"""The method x dataset grid in one config file: any recipe of configs/methods/ on any
dataset, ``configs/transfer.py:dataset=<dataset>,method=<recipe>`` (a lone value is the
dataset; by default caltech256_30 and adafilter):

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=l2sp
  python main.py --config configs/transfer.py:dataset=cubs,method=spottune

The run is named <dataset>_<recipe> (its default workdir runs/<that>/<method>/seed_0), and
the experiments grid (python -m adafilter_jax.apps.experiments) loads this file for each
of its cells. A dataset is
- a dataset config of configs/: AdaFilter's Table 2 (caltech256_30, caltech256_60,
  stanford_dogs, aircraft, mit_indoor, ucf101, omniglot), demo, study.digits, ...;
- a Visual Decathlon domain, decathlon.<domain> (configs/decathlon.py: its schedule);
- any other dataset of adafilter_jax/data/datasets.py, on the paper's recipe: SpotTune's
  Table 2 (cubs: CUB-200-2011, TFDS caltech_birds2011; stanford_cars: TFDS cars196;
  oxford_flowers: TFDS oxford_flowers102, trained on its train + validation, the paper's
  2040 images; sketches and wikiart: image_folder, docs/decathlon.md) and TLlib's
  FGVC-Aircraft (fgvc_aircraft: the 2013b trainval 6667 / test 3333; AdaFilter's Table 2
  has the Decathlon version, aircraft), with their papers' column in `paper_top1`
  (adafilter_jax/methods/paper_numbers.py).
"""
from configs import base
from configs import methods


def get_config(arg=None):
  a = base.parse_arg(arg, dataset='caltech256_30', method='adafilter')
  return methods.on_dataset(a['dataset'], a['method'])
