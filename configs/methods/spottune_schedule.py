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


def last_k_recipe(k: int):
  """(apply, get_config) of the recipe finetune_last<k>: the last k blocks and the head
  fine-tuned (adafilter_jax/methods/last_k.py), on this schedule."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  from configs.methods import on_dataset  # pylint: disable=g-import-not-at-top

  def apply(c):
    c.method = 'finetune_last_k'
    c.last_k = ml_collections.ConfigDict(dict(k=k))
    return apply_schedule(c)

  def get_config(dataset: str = 'cubs'):
    return on_dataset(dataset, f'finetune_last{k}')

  return apply, get_config
