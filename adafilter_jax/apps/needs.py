"""What a grid needs before its first run: per dataset, whether it is prepared and what
preparing it takes (nothing, files TFDS downloads, files to download by hand: URL, size,
checksum, where they go), and the pretrained weights. `reproduce` lists it and prepares
what it can; `experiments`, which prepares nothing, refuses a grid whose datasets or
weights are missing, naming all of them at once, before its first run.
"""
import dataclasses
import os
from typing import List, Optional, Sequence

from adafilter_jax import methods as methods_lib
from adafilter_jax.data import datasets
from adafilter_jax.data import downloads
from adafilter_jax.data import pipeline
from adafilter_jax.weights import hub
from adafilter_jax.weights import pretrained


@dataclasses.dataclass
class DataPlan:
  dataset: str                # a dataset of configs/transfer.py
  name: str                   # config.data.name
  data_dir: str
  prepared: bool
  source: downloads.Source
  missing: List[downloads.File]  # by hand, not in --manual_dir (when not prepared)

  @property
  def blocked(self) -> bool:
    manual = self.source.kind == downloads.MANUAL_KIND
    return not self.prepared and manual and (bool(self.missing) or not self.source.files)


def data_plan(dataset: str, config, manual_dir: Optional[str]) -> DataPlan:
  name, data_dir = config.data.name, pipeline.resolve_data_dir(config.data)
  prepared = pipeline.prepared_path(datasets.tfds_name(name), data_dir) is not None
  source = downloads.source(name)
  missing = [] if prepared or source.kind != downloads.MANUAL_KIND else [
      f for f in source.files if not downloads.present(f, manual_dir)]
  return DataPlan(dataset, name, data_dir, prepared, source, missing)


def weights_plan(configs) -> tuple:
  """(a line per pretrained weights the grid starts from, the local ones missing)."""
  specs = set()
  for c in configs:
    method = methods_lib.get(c.method)
    parts = method.pretrained_parts(c) if method.pretrained_parts else {}
    specs |= {s for s in (c.pretrained, *parts.values()) if s}
  lines, missing = [], []
  for spec in sorted(specs):
    if hub.is_hub(spec):
      path = pretrained.converted_dir(spec)
      done = os.path.isfile(os.path.join(path, pretrained.SOURCE))
      lines.append(f'{spec}: ' + (f'converted already ({path})' if done else
                   'downloads itself from the Hugging Face Hub on first use (model.safetensors, '
                   f'SHA-256 checked), converted into {path}'))
    elif os.path.isdir(spec):
      lines.append(f'{spec}: in place')
    else:
      missing.append(spec)
      lines.append(f'{spec}: MISSING: convert it first (weights/README.md)')
  return lines, missing


def format_plan(plans: Sequence[DataPlan], weights: Sequence[str],
                manual_dir: Optional[str]) -> str:
  lines = ['What each dataset needs:']
  for p in plans:
    lines.append(f'  {p.dataset} ({p.name}, data_dir {p.data_dir}): '
                 + ('prepared' if p.prepared else p.source.kind))
    if p.prepared:
      continue
    for f in p.source.files:
      if p.source.kind == downloads.MANUAL_KIND:
        where = 'MISSING' if f in p.missing else 'in place'
        lines.append(f'    {downloads.describe(f, manual_dir)}  [{where}]')
      else:
        lines.append(f'    {f.url}  ({f.size}, {f.checksum})')
    if p.source.note:
      lines.append(f'    {p.source.note}')
  lines += ['Pretrained weights:'] + [f'  {w}' for w in weights or ['none (from scratch)']]
  return '\n'.join(lines)


def refusal(plans: Sequence[DataPlan], weights_missing, manual_dir: Optional[str]) -> str:
  lines = ['Nothing was prepared or trained. Download these by hand first, then run the '
           'same command again' + ('' if manual_dir else ' with --manual_dir DIR') + ':']
  for p in plans:
    if p.blocked:
      lines.append(f'  {p.dataset}:')
      lines += [f'    {downloads.describe(f, manual_dir)}' for f in p.missing]
      lines += [f'    {p.source.note}'] if p.source.note else []
  lines += [f'  weights {w}: python -m adafilter_jax.weights.convert ... {w} '
            '(weights/README.md)' for w in weights_missing]
  return '\n'.join(lines)


def grid_refusal(plans: Sequence[DataPlan], weights_missing) -> Optional[str]:
  """The grid's one message when a dataset it trains on is not prepared (and does not
  prepare itself) or local weights are missing: each with what to do; None when none."""
  unprepared = [p for p in plans if not p.prepared and p.source.kind != downloads.AUTO]
  if not unprepared and not weights_missing:
    return None
  lines = ['nothing was run: the grid needs these first (python -m '
           'adafilter_jax.apps.reproduce, with the same flags and --manual_dir, prepares '
           'the datasets and then runs it):']
  for p in unprepared:
    lines.append(f'  {p.dataset} ({p.name}): not prepared in {p.data_dir}: '
                 f'{pipeline.prepare_command(datasets.tfds_name(p.name), p.data_dir)}')
    lines += [f'    {downloads.describe(f)}' for f in p.source.files]
    lines += [f'    {p.source.note}'] if p.source.note else []
  lines += [f'  weights {w}: python -m adafilter_jax.weights.convert ... {w} '
            '(weights/README.md)' for w in weights_missing]
  return '\n'.join(lines)
