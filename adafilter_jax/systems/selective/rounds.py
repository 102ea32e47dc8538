"""One round of joint training, resumable, and what is measured after it.

A round starts from the previous round's weights with a fresh optimizer (the schedule
restarts) and runs `iterations * iter_size` batches; a checkpoint is written every
`checkpoint_every` updates and on SIGTERM/SIGINT (every process stops after the same
batch, saves it and raises loop.Interrupted, as the main loop does), and the batch of
micro-step t is a function of (seed, round, t) alone, so a round resumed from its
checkpoint ends exactly where an uninterrupted one does.

Batches come through grain with the project's pipeline settings (`config.data`'s
num_workers and prefetch_batches, pipeline.to_iter): a MapDataset over the micro-steps
left, each element one batch built from the sampler, decoded ahead of the device. With
several processes each decodes only its own slice of every global batch (its targets
and their partners), as the main pipeline does.
"""
import contextlib
import os
import time

from absl import logging
import grain
import jax
import numpy as np

from adafilter_jax.data import pipeline
from adafilter_jax.systems.selective import joint
from adafilter_jax.train import checkpoint as checkpoint_lib
from adafilter_jax.train import loop


def _local(global_size: int) -> slice:
  """This process's part of a global batch of `global_size`."""
  local = pipeline.local_batch(global_size, jax.process_count())
  return slice(jax.process_index() * local, (jax.process_index() + 1) * local)


class _TrainBatch:
  """micro-step -> this process's slice of joint batch `step`: its targets and, as
  separate entries, their source partners (so that every device gets matching slices)."""

  def __init__(self, sampler, target, source):
    self.sampler, self.target, self.source = sampler, target, source
    # Read here, once: a worker process would otherwise read every label itself (and
    # the source's only when it trains on it: all of ImageNet's labels take minutes).
    draws = sampler.neighbours is not None or sampler.pool is not None
    self.target_labels = target.labels
    self.source_labels = source.labels if draws else None
    self.part = _local(sampler.batch_size)

  def __call__(self, step):
    b, part = self.sampler.batch(int(step)), self.part
    t = b.target[part]
    out = {'image': self.target.train_images(t, b.target_seeds[part]),
           'label': self.target_labels[t]}
    if len(b.source):
      s = b.source[part]
      out['source_image'] = self.source.train_images(s, b.source_seeds[part])
      out['source_label'] = self.source_labels[s]
    return out


def _batches(config, sampler, target, source, start: int, total: int):
  ds = grain.MapDataset.range(start, total).map(_TrainBatch(sampler, target, source))
  return iter(pipeline.to_iter(ds, config.data))


def train_round(config, parallel, model, variables, steps: joint.Steps, sampler, target,
                source, round_dir: str):
  """Trains one round from host `variables` with `steps` (joint.make_steps) and a fresh
  state of `steps.tx` (the schedule restarts); returns the final state on the devices.
  On a signal, saves and raises loop.Interrupted: running again resumes."""
  sel = config.selective
  total = sel.iterations * sel.iter_size
  state = joint.create_round_state(model, variables, config, steps.tx)
  ckpts = checkpoint_lib.Checkpoints(os.path.join(round_dir, 'checkpoints'))
  try:
    start = ckpts.latest_step() or 0
    if start:
      state, _ = ckpts.restore(jax.tree.map(np.asarray, state))
      logging.info('round %d: resuming at batch %d/%d', sampler.round, start, total)
    state = parallel.put_state(state)
    every = sel.checkpoint_every * sel.iter_size
    key = jax.random.key(config.seed)  # the signature's; the joint step draws nothing
    t0 = time.time()
    save = lambda done: ckpts.save(done, parallel.get_state(state), {'round': sampler.round})
    batches = _batches(config, sampler, target, source, start, total)
    with loop.Signals() as signals, contextlib.closing(batches) as it:
      for done, batch in zip(range(start + 1, total + 1), it):
        state, metrics = steps.train(state, parallel.put_batch(batch), key, None)
        signum = parallel.agreed_signal(signals.signum)  # every host stops after this batch
        if done % every == 0 or done == total or signum is not None:
          save(done)
          logging.info('round %d: update %d/%d, loss %.4f (%.1f batches/s)', sampler.round,
                       done // sel.iter_size, sel.iterations, parallel.metrics(metrics)['loss'],
                       (done - start) / (time.time() - t0))
        if signum is not None:
          raise loop.Interrupted(signum, done)
  finally:
    ckpts.close()
  return state  # (a round finished before comes back restored from its checkpoint)


class _EvalBatch:
  """batch b -> this process's slice of global positions [b*G, (b+1)*G) of `split`
  (eval transform); positions past the end are zero images with mask False."""

  def __init__(self, split, global_size: int, image_size: int):
    self.split, self.global_size, self.image_size = split, global_size, image_size
    self.part = _local(global_size)

  def __call__(self, b):
    pos = int(b) * self.global_size + np.arange(self.global_size)[self.part]
    mask = pos < len(self.split)
    images = np.zeros((len(pos), self.image_size, self.image_size, 3), np.uint8)
    if mask.any():
      images[mask] = self.split.eval_images(pos[mask])
    return {'image': images, 'mask': mask}


def predict(config, parallel, predict_fn, state, split) -> np.ndarray:
  """Target-head softmax over a whole split, in order, on every process (batches of
  config.eval_batch_size, the last padded)."""
  g = config.eval_batch_size
  num = -(-len(split) // g)
  ds = grain.MapDataset.range(num).map(_EvalBatch(split, g, config.data.image_size))
  key = jax.random.key(config.seed)
  outs = []
  with contextlib.closing(iter(pipeline.to_iter(ds, config.data))) as it:
    for batch in it:
      outs.append(parallel.get_outputs(predict_fn(state, parallel.put_batch(batch), key)))
  probs = np.concatenate([o['probs'] for o in outs])
  return probs[np.concatenate([o['mask'] for o in outs]).astype(bool)]
