"""One round of joint training, resumable, and what is measured after it.

A round starts from the previous round's weights with a fresh optimizer (the schedule
restarts) and runs `iterations * iter_size` batches; a checkpoint is written every
`checkpoint_every` updates (and when asked to stop), and the batch of micro-step t is a
function of (seed, round, t) alone, so a round resumed from its checkpoint ends exactly
where an uninterrupted one does.
"""
import os
import time
from typing import Optional

from absl import logging
import jax
import numpy as np

from adafilter_jax.selective import joint
from adafilter_jax.train import checkpoint as checkpoint_lib


def _batch(sampler, target, source, step):
  b = sampler.batch(step)
  images = [target.train_images(b.target, b.target_seeds)]
  if len(b.source):
    images.append(source.train_images(b.source, b.source_seeds))
  return (np.concatenate(images), target.labels[b.target],
          source.labels[b.source] if len(b.source) else np.zeros(0, np.int32))


def train_round(config, model, variables, tx, step_fn, sampler, target, source,
                round_dir: str, stop_after: Optional[int] = None):
  """Trains one round from `variables` with `step_fn` (joint.make_train_step) and a fresh
  state of optimizer `tx` (the schedule restarts); returns the final state, or None when
  it stopped after `stop_after` batches (an interruption: the checkpoint is saved)."""
  sel = config.selective
  total = sel.iterations * sel.iter_size
  state = joint.create_state(model, variables, config, tx)
  ckpts = checkpoint_lib.Checkpoints(os.path.join(round_dir, 'checkpoints'))
  try:
    start = ckpts.latest_step() or 0
    if start:
      template = jax.tree.map(np.asarray, state)
      state, _ = ckpts.restore(template)
      logging.info('round %d: resuming at batch %d/%d', sampler.round, start, total)
    every = sel.checkpoint_every * sel.iter_size
    t0, metrics = time.time(), None
    for step in range(start, total):
      images, yt, ys = _batch(sampler, target, source, step)
      state, metrics = step_fn(state, images, yt, ys)
      done = step + 1
      if done == stop_after and done < total:
        ckpts.save(done, jax.device_get(state), {'round': sampler.round})
        return None
      if done % every == 0 or done == total:
        ckpts.save(done, jax.device_get(state), {'round': sampler.round})
        logging.info('round %d: update %d/%d, loss %.4f (%.1f batches/s)', sampler.round,
                     done // sel.iter_size, sel.iterations, float(metrics['loss']),
                     (done - start) / (time.time() - t0))
  finally:
    ckpts.close()
  return state  # (a round finished before comes back restored from its checkpoint)


def predict(predict_fn, state, split, batch_size: int) -> np.ndarray:
  """Target-head softmax over a whole split (eval transform); batches padded to one shape."""
  out = []
  for s in range(0, len(split), batch_size):
    idx = np.arange(s, min(s + batch_size, len(split)))
    images = split.eval_images(idx)
    pad = batch_size - len(idx)
    if pad:
      images = np.concatenate([images, np.repeat(images[-1:], pad, 0)])
    out.append(np.asarray(predict_fn(state, images))[:len(idx)])
  return np.concatenate(out)
