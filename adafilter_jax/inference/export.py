"""Exports a trained model's inference function with `jax.export` (StableHLO, no TensorFlow).

  python -m adafilter_jax.inference.export runs/demo/adafilter exported/adafilter [--form fused]
      [--checkpoint latest] [--platforms cpu,cuda,tpu] [--overwrite]

Writes ``model.jax`` (the serialized `jax.export.Exported`: uint8 images with a symbolic
batch size -> logits and, for a gated model, the fine-tuned fraction per image and per
stage), ``weights.npz`` (its weight inputs, in order) and ``model.json`` (class names,
the preprocessing: resize, crop, mean/std; the gated layers and stages; where it came
from). `adafilter_jax.inference.serving.load` runs it without the model code. An output
directory that holds files already is refused unless --overwrite.

Forms of AdaFilter's gated layers (same outputs, tested): ``two_branch`` computes F and
S and mixes them; ``fused`` computes one conv per layer with per-image gate-mixed,
BN-folded kernels: a plain ResNet's FLOPs (``config.adafilter.eval_impl='fused_all'``).
"""
import argparse
import json
import os
import sys
from typing import Optional, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from adafilter_jax.data import logs
from adafilter_jax.data import cli_errors
from adafilter_jax.inference import restore as inference
from adafilter_jax.inference import serving

FORMS = {'two_branch': 'two_branch', 'fused': 'fused_all'}  # form -> eval_impl
# Lowered for both by default: one file runs on the CPU and on an NVIDIA GPU, wherever
# it was exported.
PLATFORMS = ('cpu', 'cuda')


def export_workdir(workdir: str, out_dir: str, which: str = 'best', form: str = 'two_branch',
                   platforms: Optional[Sequence[str]] = None, overwrite: bool = False) -> str:
  """Exports `workdir`'s `which` checkpoint to `out_dir`; returns out_dir. A folder that
  holds files already is refused unless `overwrite` (then the model's files are replaced)."""
  if form not in FORMS:
    raise ValueError(f'form must be one of {sorted(FORMS)}, got {form!r}')
  held = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
  if held and not overwrite:
    raise FileExistsError(
        f'{out_dir} already holds {", ".join(held[:5])}{" ..." if len(held) > 5 else ""}: '
        'export into a new folder, or pass --overwrite to replace the model there.')
  r = inference.restore(workdir, which, eval_impl=FORMS[form])
  infer = inference.make_infer_fn(r.model, r.config.data, r.layers)
  leaves, treedef = jax.tree.flatten(r.variables)
  # Weights are inputs, not constants: the StableHLO stays small and compiles fast.
  fn = jax.jit(lambda weights, images: infer(jax.tree.unflatten(treedef, weights), images))
  size = r.config.data.image_size
  (batch,) = jax.export.symbolic_shape('b')
  exported = jax.export.export(fn, platforms=tuple(platforms or PLATFORMS))(
      [jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype) for x in leaves],
      jax.ShapeDtypeStruct((batch, size, size, 3), jnp.uint8))
  meta = {
      'format': serving.FORMAT, 'classes': inference.class_names(r.config, r.meta['num_classes']),
      'image_size': size, 'resize_size': r.config.data.resize_size,
      'mean': list(r.config.data.mean), 'std': list(r.config.data.std),
      'input': 'uint8 [batch, image_size, image_size, 3] RGB: short side resized to '
               'resize_size, centre crop image_size; normalised inside the model',
      'outputs': {'logits': '[batch, classes]', 'fraction': '[batch] fine-tuned filters',
                  'stage_fraction': '[batch, stages] fine-tuned filters per stage'},
      'layers': r.layers, 'stages': [s for s, _ in inference.stages(r.layers)],
      'method': r.config.method, 'arch': r.config.model.arch, 'form': form,
      'checkpoint': which, 'step': r.step, 'epoch': r.meta['epoch'],
      'platforms': list(exported.platforms), 'jax_version': jax.__version__}
  _write_atomic(out_dir, {serving.MODEL: bytes(exported.serialize()),
                          serving.META: json.dumps(meta, indent=2).encode()},
                [np.asarray(x) for x in leaves])
  logging.info('exported %s (%s, %s checkpoint, step %d) to %s', workdir, form, which, r.step,
               out_dir)
  return out_dir


def _write_atomic(out_dir: str, files: dict, weights):
  """All files under temporary names first: an interrupted export leaves no model."""
  os.makedirs(out_dir, exist_ok=True)
  tmp = {name: os.path.join(out_dir, f'.{name}.tmp') for name in list(files) + [serving.WEIGHTS]}
  for name, data in files.items():
    with open(tmp[name], 'wb') as f:
      f.write(data)
  with open(tmp[serving.WEIGHTS], 'wb') as f:
    np.savez(f, *weights)
  for name, path in tmp.items():
    os.replace(path, os.path.join(out_dir, name))


def main(argv: Optional[Sequence[str]] = None) -> int:
  p = argparse.ArgumentParser(prog='adafilter-export', description=__doc__.split('\n')[0])
  p.add_argument('workdir', help='a training run directory (with config.json, checkpoints/)')
  p.add_argument('out', help='output directory')
  p.add_argument('--checkpoint', choices=inference.CHECKPOINTS, default='best')
  p.add_argument('--form', choices=sorted(FORMS), default='two_branch')
  p.add_argument('--platforms', default=None,
                 help='comma-separated lowering platforms (default: cpu,cuda)')
  p.add_argument('--overwrite', action='store_true',
                 help='replace the model in an output directory that holds files already')
  args = p.parse_args(argv)
  logs.quiet_libraries(logging.INFO)
  platforms = args.platforms.split(',') if args.platforms else None
  try:
    out = export_workdir(args.workdir, args.out, args.checkpoint, args.form, platforms,
                         overwrite=args.overwrite)
  except cli_errors.USER_ERRORS as e:
    return cli_errors.report(e)
  print(f'wrote {out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
