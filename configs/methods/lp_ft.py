"""LP-FT (Kumar et al., ICLR 2022): a linear probe (only the head, the pretrained
network frozen in inference mode) for lp_epochs=10 at head rate lp_lr=0.01 (x0.1 at
its epoch 6), then fine-tuning of everything from that head with the base recipe
(lr 0.01, x0.1 at 30/60/90 of its own 110 epochs) and a fresh optimizer: 120 epochs
in one run and workdir, resumable across the two stages.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=lp_ft

The probe's length, rate and decay are the DELTA authors' SGD probe (channel_eval.py:
10 epochs, lr 0.01, decayed to 0.1x by epoch 6); Kumar et al. fit the probe by L-BFGS
logistic regression and sweep the fine-tuning rate. Expected: in-distribution about
fine-tuning's top-1 or above (Kumar et al., Table 1: LP-FT >= FT ID on most of their
datasets), here against `finetune`'s (AdaFilter Table 2); not yet run at full size.
"""
import ml_collections



def apply(c):
  c.method = 'lp_ft'
  c.lp_ft = ml_collections.ConfigDict(dict(lp_epochs=10, lp_lr=0.01, lp_decay_epochs=(6,)))
  c.num_epochs += c.lp_ft.lp_epochs  # the fine-tuning stage keeps the base recipe's length
  return c

