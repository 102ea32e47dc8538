"""What a run writes to its workdir, and the progress bar.

- ``metrics.jsonl``: one JSON object per epoch (train loss/top-1, eval top-1 and mean
  per-class accuracy, per-layer fraction of fine-tuned filters, learning rates, speed).
- ``gate_stats.npz``: the latest eval's per-image gate decisions (gated models only):
  per-image fractions, every filter's decision bit-packed, each filter's share of images.
- ``policy_init.npz``: the initial gate's decisions on the eval images and their
  diagnostics (train/policy.py), evaluated once before training; every epoch's record
  (``policy``) says how many decisions training changed since.
- ``summary.json``: the run's outcome, written at the end; ``config.json``: the config.
- TensorBoard event files (``events.out.tfevents.*``, written by tensorboardX, no
  TensorFlow; ``config.tensorboard``): every number of each metrics.jsonl record as a
  scalar at the record's step (nested keys joined by '/': ``lr/gate``,
  ``gate_fraction_per_stage/layer4``), and the report's figures as images.
- The same to Weights & Biases with ``config.wandb`` = a project name (sinks.py).
Only process 0 writes; every host computes the same numbers.
"""
import json
import os
import time
from typing import Dict, List, Optional, Sequence

import jax
import numpy as np
import tqdm

from adafilter_jax.train import policy
from adafilter_jax.train import sinks as sinks_lib

METRICS = 'metrics.jsonl'
GATE_STATS = 'gate_stats.npz'
POLICY_INIT = 'policy_init.npz'
SUMMARY = 'summary.json'
CONFIG = 'config.json'


def accuracies(pred: np.ndarray, label: np.ndarray, num_classes: int):
  """(top-1, mean per-class accuracy); the mean is over the classes present in `label`."""
  correct = (pred == label).astype(np.float64)
  count = np.bincount(label, minlength=num_classes)
  hits = np.bincount(label, weights=correct, minlength=num_classes)
  present = count > 0
  return float(correct.mean()), float(np.mean(hits[present] / count[present]))


def gate_fraction(outputs: Dict[str, np.ndarray], layers: List[str]) -> Dict[str, float]:
  """Per gated layer (forward order), the fraction of fine-tuned filters over the eval set."""
  if not layers:
    return {}
  return dict(zip(layers, map(float, outputs['layer_fraction'].mean(0))))


def stage_fraction(fractions: Dict[str, float], widths: Dict[str, int]) -> Dict[str, float]:
  """Per stage (``layer1``..``layer4``; the stem is ``conv1``), the fraction of its
  fine-tuned filters: its layers' fractions weighted by their filter counts `widths`."""
  num, den = {}, {}
  for layer, fraction in fractions.items():
    stage = layer.split('/')[0].split('_')[0]
    num[stage] = num.get(stage, 0.0) + fraction * widths[layer]
    den[stage] = den.get(stage, 0) + widths[layer]
  return {stage: num[stage] / den[stage] for stage in num}


def scalars(record: dict, prefix: str = '') -> Dict[str, float]:
  """A record's numbers as TensorBoard tags: nested keys joined by '/', text left out."""
  out = {}
  for key, value in record.items():
    tag = f'{prefix}{key}'
    if isinstance(value, dict):
      out.update(scalars(value, tag + '/'))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      out[tag] = float(value)
  return out


def read_initial_policy(workdir: str) -> Optional[dict]:
  """What `Writer.save_initial_policy` kept in `workdir`: {'outputs': arrays,
  'diagnostics'}, or None."""
  path = os.path.join(workdir, POLICY_INIT)
  if not os.path.exists(path):
    return None
  with np.load(path) as z:
    return {'outputs': {k: z[k] for k in ('decisions', 'index', 'label')},
            'diagnostics': json.loads(str(z['diagnostics']))}


class Writer:
  """The one place every metric goes: appends the per-epoch records, writes the gate
  statistics and the summary, and sends each record and the report's figures to the
  config's sinks (TensorBoard, Weights & Biases; sinks.py). Without a config (the
  evaluation command), only the files."""

  def __init__(self, workdir: str, resume_epoch: int = 0, config=None):
    self.workdir = workdir
    self.enabled = jax.process_index() == 0
    self.sinks = []
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      kept = self._truncate(resume_epoch)
      if config is not None:
        # Events of epochs after the checkpoint are hidden, as their records are dropped.
        self.sinks = sinks_lib.open_sinks(config, workdir,
                                          purge_step=(kept[-1]['step'] if kept else 0) + 1)

  def _path(self, name):
    return os.path.join(self.workdir, name)

  def _truncate(self, epoch: int):
    # Epochs after the restored checkpoint will be run again: drop their old records.
    # A record is written before its checkpoint, so a kill between the two leaves one
    # record too many (dropped here), never one too few; a kill inside the write leaves
    # half a line (dropped too). The rewrite is atomic: a kill here loses nothing.
    keep = [r for r in self.records() if r['epoch'] <= epoch]
    self._write_atomic(METRICS, ''.join(json.dumps(r) + '\n' for r in keep))
    return keep

  def _write_atomic(self, name: str, text: str):
    tmp = self._path(name + '.tmp')
    with open(tmp, 'w') as f:
      f.write(text)
    os.replace(tmp, self._path(name))  # a reader never sees half a file

  def records(self) -> List[dict]:
    path = self._path(METRICS)
    if not os.path.exists(path):
      return []
    records = []
    with open(path) as f:
      for line in f:
        try:
          records.append(json.loads(line))
        except json.JSONDecodeError:  # the last line of a killed write
          pass
    return records

  def config(self, config):
    # The report reads the dataset back from here (docs/report.md).
    if self.enabled:
      self._write_atomic(CONFIG, config.to_json_best_effort(indent=2))

  def epoch(self, record: dict):
    if self.enabled:
      with open(self._path(METRICS), 'a') as f:
        f.write(json.dumps(record) + '\n')
        f.flush()
        os.fsync(f.fileno())  # on disk before the checkpoint that says it was written
      for sink in self.sinks:
        sink.scalars(scalars(record), record['step'])

  def figures(self, paths: Sequence[str], step: int):
    """PNG files (the report's figures) as images at `step`, tagged by file name."""
    if self.enabled and self.sinks and paths:
      images = {f'report/{os.path.splitext(os.path.basename(p))[0]}': sinks_lib.read_png(p)
                for p in paths}
      for sink in self.sinks:
        sink.images(images, step)

  def close(self):
    for sink in self.sinks:
      sink.close()
    self.sinks = []

  def gate_stats(self, outputs: Dict[str, np.ndarray], layers: List[str], epoch: int,
                 channels: Optional[List[int]] = None):
    """`channels` (filters per layer) adds every decision, bit-packed, and per filter
    the share of images that pick F (policy.filter_shares), layers concatenated."""
    if not (self.enabled and layers):
      return
    extra = {}
    if channels is not None and 'decisions' in outputs:
      extra = dict(channels=np.asarray(channels), decisions=outputs['decisions'],
                   filter_share=policy.filter_shares(policy.unpack(outputs['decisions'],
                                                                   channels)))
    self._savez(GATE_STATS, layers=np.asarray(layers), epoch=epoch,
                layer_fraction=outputs['layer_fraction'].mean(0),
                per_image_layer_fraction=outputs['layer_fraction'],
                per_image_fraction=outputs['fraction'], index=outputs['index'],
                label=outputs['label'], pred=outputs['pred'], **extra)

  def _savez(self, name: str, **arrays):
    tmp = self._path(name + '.tmp.npz')
    np.savez(tmp, **arrays)
    os.replace(tmp, self._path(name))  # a reader never sees half a file

  def save_initial_policy(self, outputs: Dict[str, np.ndarray], diagnostics: dict):
    if self.enabled:
      self._savez(POLICY_INIT, diagnostics=json.dumps(diagnostics),
                  **{k: outputs[k] for k in ('decisions', 'index', 'label')})

  def summary(self, summary: dict):
    if self.enabled:
      self._write_atomic(SUMMARY, json.dumps(summary, indent=2))


class Progress:
  """A per-epoch bar with images/s and the whole run's ETA (process 0 only).

  The ETA is the mean wall time a step since the run's first step here, whose time is
  the compile's, so it is left out; the evaluations between epochs are in it, as they
  are in what remains. A rate over the epoch so far jumped by hours: steps are dispatched
  asynchronously, and an epoch's first ones wait for the pipeline or a compile."""

  def __init__(self, total_steps: int, batch_size: int, enabled: bool = True):
    self.total_steps, self.batch_size = total_steps, batch_size
    self.enabled = enabled and jax.process_index() == 0
    self.bar: Optional[tqdm.tqdm] = None
    self.first: Optional[tuple] = None  # (time, step) after the run's first step here

  def start_epoch(self, epoch: int, num_epochs: int, steps: int, done: int):
    self.t0, self.done0 = time.time(), 0
    if self.enabled:
      self.bar = tqdm.tqdm(total=steps, initial=done, desc=f'epoch {epoch}/{num_epochs}',
                           unit='step', leave=False, dynamic_ncols=True)

  def update(self, step: int, loss: Optional[float] = None):
    """`step`: global steps done; called every step, cheap."""
    self.done0 += 1
    self.last_step = step
    now = time.time()
    if self.first is None:
      self.first = (now, step)
    if self.bar is not None:
      self.bar.update(1)
      rate = self.done0 / max(now - self.t0, 1e-9)
      post = {'img/s': f'{rate * self.batch_size:.1f}', 'eta': self.eta(now, step)}
      if loss is not None:
        post['loss'] = f'{loss:.4f}'
      self.bar.set_postfix(post, refresh=False)

  def eta(self, now: float, step: int) -> str:
    """The rest of the run at the mean step time since the first step ('?' before)."""
    t_first, step_first = self.first
    if step <= step_first:
      return '?'
    return _hms((self.total_steps - step) * (now - t_first) / (step - step_first))

  def end_epoch(self) -> tuple:
    """(images/s, seconds) of the epoch's training steps."""
    dt = time.time() - self.t0
    if self.bar is not None:
      self.bar.close()
    return self.done0 * self.batch_size / max(dt, 1e-9), dt


def _hms(seconds: float) -> str:
  s = int(seconds)
  return f'{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}'
