"""Co-Tuning (You et al., NeurIPS 2020; adafilter_jax/methods/co_tuning.py): the ImageNet
head kept and trained on the target labels translated by the category relationship,
trade-off 2.3 (TLlib's and the authors' default), on TLlib's recipe (configs/schedules.py).
The ImageNet weights keep their 1000-class fc (the converters and the Hub's conversion do).

  python main.py --config configs/transfer.py:dataset=cubs,method=co_tuning \
      --config.data.sample_rate=0.15

Expected (TLlib, ResNet-50, best-epoch top-1 %): CUB-200 57.6 / 70.1 / 77.3 / 82.5 at
15 / 30 / 50 / 100 %; Stanford Cars 49.0 / 70.6 / 81.9 / 89.1; FGVC-Aircraft
(`fgvc_aircraft`) 45.9 / 61.2 / 71.3 / 82.2 (adafilter_jax/methods/paper_numbers.py). Not run
here yet: the runs need a GPU and the datasets.
"""
import ml_collections

from configs import schedules


def apply(c):
  c.method = 'co_tuning'
  c.co_tuning = ml_collections.ConfigDict(dict(trade_off=2.3, source_classes=1000))
  return schedules.tllib(c)
