"""DELTA (Li et al., ICLR 2019): fine-tuning + alpha * the attention-weighted distance of
four feature maps to the pretrained network's + beta/2 ||w_fc||^2, no weight decay;
alpha=0.01 (0.1 on Stanford Dogs), beta=0.01 (the official run.sh and train.py). The
channel weights come from a linear probe of probe_epochs=10 (lr 0.01, x0.1 by epoch 6,
weight decay 1e-4) and the loss increases on attention_images=128 training images
(the official channel_eval.py: 4 batches of 32), measured in the run's workdir first
(systems/delta_attention.py); attention='uniform' skips them (DELTA without attention).

  python main.py --config configs/transfer.py:dataset=cubs,method=delta

Expected: about +0.5-2 points over fine-tuning (TLlib, ResNet-50 at 100 %: CUB-200
82.3 vs ERM 81.8, Stanford Cars 88.4 vs 87.8, FGVC-Aircraft 82.7 vs 80.2;
adafilter_jax/methods/paper_numbers.py); not yet run at full size here.
"""
import ml_collections



def apply(c):
  c.method = 'delta'
  c.delta = ml_collections.ConfigDict(dict(
      alpha=0.1 if c.data.name == 'stanford_dogs' else 0.01, beta=0.01, attention='',
      probe_epochs=10, probe_lr=0.01, probe_decay_epochs=(6,), probe_weight_decay=1e-4,
      attention_images=128))
  c.optim.weight_decay = 0.0  # replaced by the regularizers (the loop drops it anyway)
  return c

