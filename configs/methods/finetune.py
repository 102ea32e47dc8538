"""Standard fine-tuning (Table 2): every parameter of the pretrained ResNet-50 trains.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=finetune
"""


def apply(c):
  c.method = 'finetune'
  return c

