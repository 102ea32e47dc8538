"""Where a run's numbers go besides its files: TensorBoard and Weights & Biases.

`metrics.Writer` is the only caller: it sends each epoch's record (as scalars) and the
report's figures (as images) to every sink `open_sinks` opens for the config.

- ``config.tensorboard`` (default True): event files in the workdir, written by
  tensorboardX (no TensorFlow). ``tensorboard --logdir runs`` shows every run, and a
  profile (``config.profile_steps``) in the same run's Profile tab. A resumed run hides
  the events after its checkpoint (`purge_step`), as it drops their metrics.jsonl lines.
- ``config.wandb`` (default '': off): the W&B project to log the same to; needs
  ``pip install wandb`` (and ``wandb login``, or WANDB_MODE=offline). The run id is kept
  in ``workdir/wandb_run_id``, so a resumed run logs into the same W&B run.
"""
import glob
import json
import os
import sys
import time
import uuid
from typing import Dict, List

import numpy as np
from PIL import Image

WANDB_ID = 'wandb_run_id'


def read_png(path: str) -> np.ndarray:
  """An image file -> uint8 [H, W, 3]."""
  with Image.open(path) as image:
    return np.asarray(image.convert('RGB'))


class TensorBoard:

  def __init__(self, workdir: str, purge_step: int):
    # Imported by the run that writes events only, and without torch, which tensorboardX
    # imports wherever it is installed to accept torch tensors (never given here): 1.4
    # CPU-s of every run's start.
    hidden = 'torch' not in sys.modules
    if hidden:
      sys.modules['torch'] = None  # its `import torch` raises ImportError, which it expects
    try:
      import tensorboardX  # pylint: disable=g-import-not-at-top
    finally:
      if hidden:
        del sys.modules['torch']
    if not glob.glob(os.path.join(workdir, 'events.out.tfevents.*')):
      purge_step = None  # nothing to hide
    # The file name has the time in whole seconds, and readers take the files in name
    # order: nanoseconds after it keep a writer opened in the same second (a resume
    # right after a kill) from overwriting the last one's file, and in order after it.
    self.writer = tensorboardX.SummaryWriter(logdir=workdir, purge_step=purge_step,
                                             filename_suffix=f'.{time.time_ns()}')

  def scalars(self, values: Dict[str, float], step: int):
    for tag, value in values.items():
      self.writer.add_scalar(tag, value, step)
    self.writer.flush()  # an epoch's numbers are visible when its line is

  def images(self, images: Dict[str, np.ndarray], step: int):
    for tag, image in images.items():
      self.writer.add_image(tag, image, step, dataformats='HWC')
    self.writer.flush()

  def close(self):
    self.writer.close()


def import_wandb():
  try:
    import wandb  # pylint: disable=g-import-not-at-top (optional)
  except ImportError:
    raise ImportError('config.wandb is set but wandb is not installed: pip install wandb, '
                      "or leave config.wandb='' (off).") from None
  return wandb


class WandB:

  def __init__(self, workdir: str, project: str, config):
    self.wandb = import_wandb()
    self.run = self.wandb.init(
        project=project, dir=workdir, id=_run_id(workdir), resume='allow',
        name=f'{config.name}/{config.method}/seed_{config.seed}',
        config=json.loads(config.to_json_best_effort()))

  def scalars(self, values: Dict[str, float], step: int):
    self.run.log(values, step=step)

  def images(self, images: Dict[str, np.ndarray], step: int):
    self.run.log({tag: self.wandb.Image(image) for tag, image in images.items()}, step=step)

  def close(self):
    self.run.finish()


def _run_id(workdir: str) -> str:
  path = os.path.join(workdir, WANDB_ID)
  if not os.path.exists(path):
    with open(path, 'w') as f:
      f.write(uuid.uuid4().hex[:16])
  with open(path) as f:
    return f.read().strip()


def check(config):
  """Fails before anything compiles when a sink the config asks for cannot open."""
  if config.wandb:
    import_wandb()


def open_sinks(config, workdir: str, purge_step: int) -> List:
  sinks = []
  if config.tensorboard:
    sinks.append(TensorBoard(workdir, purge_step))
  if config.wandb:
    sinks.append(WandB(workdir, config.wandb, config))
  return sinks
