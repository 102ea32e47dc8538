"""Training: the loop (loop.py) and its parts, one module each: the train state, the
optimizer, the steps, data parallelism, checkpoints, metrics files; demo.py runs the offline
demo and demo_check.py keeps the README's numbers of it true; faults.py kills and resumes a
real job to show that a resumed run ends as an uninterrupted one."""
from adafilter_jax.train.loop import Interrupted, NonFiniteLoss, train_and_evaluate

__all__ = ['Interrupted', 'NonFiniteLoss', 'train_and_evaluate']
