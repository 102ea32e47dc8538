"""The training schedules that several methods' recipes share (not recipes themselves).

`spottune`: SpotTune's ResNet-50 schedule (its Sec. 4.1), which its Table 2 baselines
share here: SGD momentum 0.9, lr 0.01, batch 32, 40 epochs, x0.1 at epochs 15 and 30. On
a Decathlon domain the Decathlon schedule of configs/decathlon.py replaces it.

`tllib`: TLlib's task-adaptation recipe, which its sampling-rate benchmarks (CUB-200,
Stanford Cars, FGVC-Aircraft at 15/30/50/100 %) train every method with
(examples/task_adaptation/image_classification/{erm,co_tuning,bss,delta}.py, --finetune):
SGD with Nesterov momentum 0.9, batch 48, lr 0.01 for the new head and 0.001 (x0.1) for
the pretrained network, weight decay 5e-4, 20 "epochs" of 500 iterations (10,000 steps)
with x0.1 after 12 of them (6,000 steps), random resized crops of scale (0.2, 1) and flips.
Our epoch is one pass over the training set, so the steps become epochs of the dataset:
num_epochs = round(10000 / steps per pass) from its training count (data/datasets.py;
a dataset without one keeps its config's schedule). The experiments grid's sampling-rate
axis multiplies them by 100/rate, so every rate trains about 10,000 steps, as in TLlib.
erm, co_tuning, surgical, auto_rgn and bitfit train on it.
"""
from adafilter_jax.data import datasets

TLLIB_STEPS, TLLIB_DECAY_STEPS, TLLIB_BATCH = 10_000, 6_000, 48


def spottune(c):
  c.batch_size = 32
  c.num_epochs = 40
  c.optim.lr = 0.01
  c.optim.decay_epochs = (15, 30)
  c.optim.decay_factor = 0.1
  return c


def tllib(c):
  c.batch_size = TLLIB_BATCH
  c.optim.lr, c.optim.head_lr = 0.001, 0.01
  c.optim.momentum, c.optim.nesterov = 0.9, True
  c.optim.weight_decay = 5e-4
  c.optim.decay_factor = 0.1
  c.data.crop_scale = (0.2, 1.0)
  spec = datasets.resolve(c.data.name)
  if spec is not None and spec.num_train:
    per_pass = max(spec.num_train // TLLIB_BATCH, 1)
    c.num_epochs = max(round(TLLIB_STEPS / per_pass), 1)
    c.optim.decay_epochs = (max(round(TLLIB_DECAY_STEPS / per_pass), 1),)
  return c
