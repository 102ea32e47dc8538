"""SpotTune (Guo et al., CVPR 2019) with its ResNet-50 recipe: per image and residual
block, the frozen block or a fine-tuned copy, picked by a policy ResNet (64/128/256/512)
with the straight-through Gumbel-softmax (tau 5; argmax at test time). SGD momentum
0.9, lr 0.01, policy lr 1e-4, batch 32, 40 epochs, x0.1 at epochs 15 and 30.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=spottune
"""
import ml_collections

from configs import schedules


def apply(c):
  c.method = 'spottune'
  # tau and the policy widths are the paper's; k = 3 is its global-k experiment;
  # lambda_k and lambda_e are not given (ours: l_k starts near (L/2 - k)^2, so 0.1 keeps
  # it on the scale of the classification loss). `blocks` (spottune_fixed): the
  # comma-separated blocks to fine-tune, e.g. 'layer4_2'; the experiments grid fills it.
  c.spottune = ml_collections.ConfigDict(dict(
      tau=5.0, policy_width=64, k=3, lambda_k=0.1, lambda_e=0.1, blocks=''))
  c.optim.gate_lr = 1e-4  # the policy net's rate
  return schedules.spottune(c)

