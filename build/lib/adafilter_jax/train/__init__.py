"""Training: the loop (loop.py) and its parts, one module each: the train state, the
optimizer, the steps, data parallelism, checkpoints, metrics files; demo.py runs the offline
demo."""
from adafilter_jax.train.loop import Interrupted, NonFiniteLoss, train_and_evaluate

__all__ = ['Interrupted', 'NonFiniteLoss', 'train_and_evaluate']
