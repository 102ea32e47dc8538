"""SpotTune's ResNet-50 schedule (its Sec. 4.1), which its Table 2 baselines share here:
SGD momentum 0.9, lr 0.01, batch 32, 40 epochs, x0.1 at epochs 15 and 30. (Not a
recipe: the baseline recipes apply it. On a Decathlon domain the Decathlon schedule of
configs/decathlon replaces it.)"""


def apply_schedule(c):
  c.batch_size = 32
  c.num_epochs = 40
  c.optim.lr = 0.01
  c.optim.decay_epochs = (15, 30)
  c.optim.decay_factor = 0.1
  return c
