"""TLlib's ERM: standard fine-tuning on TLlib's recipe (configs/schedules.py), the baseline
of its sampling-rate tables; compare the other methods of that protocol (co_tuning,
surgical, auto_rgn, bitfit) with this rather than with `finetune` (AdaFilter's recipe).

  python main.py --config configs/transfer.py:dataset=cubs,method=erm \
      --config.data.sample_rate=0.15

Expected (TLlib, ResNet-50, best-epoch top-1 %): CUB-200 51.2 / 64.6 / 74.6 / 81.8 at
15 / 30 / 50 / 100 %; Stanford Cars 41.1 / 65.9 / 78.4 / 87.8; FGVC-Aircraft
(`fgvc_aircraft`) 41.6 / 57.8 / 68.7 / 80.2 (adafilter_jax/methods/paper_numbers.py). Not run
here yet: the runs need a GPU and the datasets.
"""
from configs import schedules


def apply(c):
  c.method = 'finetune'
  return schedules.tllib(c)
