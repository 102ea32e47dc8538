"""The recipe of configs/base.py on one of SpotTune's Table 2 datasets (cubs.py,
stanford_cars.py, oxford_flowers.py, sketches.py, wikiart.py); `paper_top1` is that
table's column, from adafilter_jax/methods/paper_numbers.py."""
from configs import base


def get_config(dataset: str):
  return base.for_dataset(dataset, dataset)
