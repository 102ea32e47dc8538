"""The run's random-key streams, named once: training and evaluation derive theirs here,
so that a re-evaluation (inference/evaluate.py) draws what the training loop drew.

Every stream is ``fold_in(key(config.seed), n)`` with its own n; the random-policy gate
is the only reader of the eval streams (the other gates are deterministic at eval).
"""
import jax

TRAIN, EVAL, TRAIN_OUTPUTS = 1, 2, 3  # the streams' numbers (their values are the runs')
INITIAL_POLICY = 2 ** 31 - 1  # the eval stream's index for the initial gate: no epoch's


def _stream(seed: int, n: int):
  return jax.random.fold_in(jax.random.key(seed), n)


def train(seed: int):
  """The train steps' key (each step folds in its number)."""
  return _stream(seed, TRAIN)


def evaluation(seed: int, epoch: int):
  """The key of evaluation epoch `epoch` (0-based; each batch folds in its index)."""
  return jax.random.fold_in(_stream(seed, EVAL), epoch)


def initial_policy(seed: int):
  """The key of the evaluation of the gate as initialised, before the first step."""
  return evaluation(seed, INITIAL_POLICY)


def train_outputs(seed: int):
  """The key of a method's preparation pass over the training images."""
  return _stream(seed, TRAIN_OUTPUTS)
