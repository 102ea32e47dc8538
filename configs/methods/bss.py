"""BSS (Chen et al., NeurIPS 2019): fine-tuning + eta * (the k smallest squared singular
values of the batch's pooled features), eta=0.001, k=1 (the paper's and TLlib's
defaults); weight decay and schedule as fine-tuning's (BSS is added to it).

  python main.py --config configs/transfer.py:dataset=cubs,method=bss

Expected: about +0.2-1 points over fine-tuning at 100 % of the training data and more
with less (TLlib, ResNet-50: CUB-200 82.0 vs ERM 81.8; Stanford Cars 88.0 vs 87.8;
FGVC-Aircraft, `fgvc_aircraft`, 81.2 vs 80.2; adafilter_jax/methods/paper_numbers.py); not yet
run at full size here.
"""
import ml_collections



def apply(c):
  c.method = 'bss'
  c.bss = ml_collections.ConfigDict(dict(eta=0.001, k=1))
  return c

