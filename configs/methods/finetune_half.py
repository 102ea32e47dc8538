"""Fine-tuning half (Table 2): the stem and the first 8 of 16 blocks frozen.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=finetune_half
"""


def apply(c):
  c.method = 'finetune_half'
  return c

