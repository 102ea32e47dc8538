r"""Converts torchvision ResNet weights (a ``state_dict`` .pth or .safetensors) into this
project's format.

  python -m adafilter_jax.weights.convert hf-hub:timm/resnet50.tv_in1k weights/resnet50  # no torch
  python -m adafilter_jax.weights.convert weights/resnet50-19c8e357.pth weights/resnet50 --arch resnet50
  python -m adafilter_jax.weights.convert weights/resnet50.safetensors weights/resnet50   # no torch
  python -m adafilter_jax.weights.convert --download resnet50 weights/resnet50           # network

``hf-hub:<owner>/<name>`` fetches the repo's model.safetensors from the Hugging Face Hub
(hub.py: timm's mirrors of torchvision's ResNets, SHA-256 checked) and takes the
architecture from the repo's name (``resnet50.tv_in1k``: resnet50).

A ``.safetensors`` file with torchvision's keys (timm's ``resnet50.tv_in1k``, or any
``save_file`` of a torchvision state_dict) is read with the `safetensors` package alone;
a ``.pth`` needs torch. ``--download`` fetches torchvision's file into ``--download_dir``
and checks the SHA-256 prefix in its published name before anything is converted.

The result is an orbax checkpoint of ``{'params', 'batch_stats'}`` of the plain Flax
ResNet in models/resnet.py, which `pretrained.transfer` then maps into any model
(AdaFilter: F = S = pretrained, both BNs = the pretrained BN). The key mapping is a table:

  torchvision                         flax (params / batch_stats)
  conv1.weight [O,I,H,W]              conv1/conv/kernel [H,W,I,O]
  bn1.{weight,bias}                   conv1/bn/{scale,bias}
  bn1.{running_mean,running_var}      conv1/bn/{mean,var}          (batch_stats)
  layer2.0.conv3.weight               layer2_0/conv3/conv/kernel
  layer2.0.bn3.*                      layer2_0/conv3/bn/*
  layer2.0.downsample.0.weight        layer2_0/downsample/conv/kernel
  layer2.0.downsample.1.*             layer2_0/downsample/bn/*
  fc.weight [O,I], fc.bias            fc/kernel [I,O], fc/bias
  *.num_batches_tracked               (dropped: flax's BN needs no step count)
"""
import hashlib
import os
import re
import sys
from typing import Dict, Mapping, Optional, Tuple
import urllib.request

import flax
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from adafilter_jax import models
from adafilter_jax.data import logs
from adafilter_jax.data import cli_errors
from adafilter_jax.weights import hub
from adafilter_jax.weights import store

_SHOWN = 20  # problems quoted when a Hub file does not fit its architecture
_BN = {'weight': ('params', 'scale'), 'bias': ('params', 'bias'),
       'running_mean': ('batch_stats', 'mean'), 'running_var': ('batch_stats', 'var')}
_KEY = re.compile(r'^(?:(?P<block>layer\d+)\.(?P<idx>\d+)\.)?'
                  r'(?:(?P<kind>conv|bn)(?P<n>\d+)|downsample\.(?P<ds>[01]))\.(?P<leaf>\w+)$')


def flax_key(key: str) -> Tuple[str, Tuple[str, ...]]:
  """(collection, path) of a torchvision state_dict key; raises KeyError if unknown."""
  if key in ('fc.weight', 'fc.bias'):
    return 'params', ('fc', 'kernel' if key.endswith('weight') else 'bias')
  m = _KEY.match(key)
  if not m:
    raise KeyError(key)
  prefix = (f'{m["block"]}_{m["idx"]}',) if m['block'] else ()
  if m['ds'] is not None:
    unit, is_conv = 'downsample', m['ds'] == '0'
  else:
    unit, is_conv = f'conv{m["n"]}', m['kind'] == 'conv'
  if is_conv:
    if m['leaf'] != 'weight':
      raise KeyError(key)
    return 'params', prefix + (unit, 'conv', 'kernel')
  if m['leaf'] not in _BN:
    raise KeyError(key)
  col, leaf = _BN[m['leaf']]
  return col, prefix + (unit, 'bn', leaf)


def _to_flax_layout(path: Tuple[str, ...], value: np.ndarray) -> np.ndarray:
  if path[-1] == 'kernel' and value.ndim == 4:
    return value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
  if path[-1] == 'kernel' and value.ndim == 2:
    return value.T                      # [out, in] -> [in, out]
  return value


def flatten(state_dict: Mapping[str, np.ndarray], key_fn) -> Tuple[Dict[str, dict], list]:
  """({collection: {path: array in flax layout}}, the keys `key_fn` raised KeyError on);
  `key_fn` maps a state_dict key to (collection, path)."""
  flat, unexpected = {'params': {}, 'batch_stats': {}}, []
  for key, value in state_dict.items():
    if key.endswith('num_batches_tracked'):
      continue
    try:
      col, path = key_fn(key)
    except KeyError:
      unexpected.append(key)
      continue
    flat[col][path] = _to_flax_layout(path, np.asarray(value, np.float32))
  return flat, unexpected


def torchvision_to_flax(state_dict: Mapping[str, np.ndarray], arch: str) -> Dict[str, dict]:
  """Maps a torchvision ResNet state_dict onto ``resnet(arch)``'s variables, checked.

  Every key of the state_dict must have a place in the model and every leaf of the
  model a key, with matching shapes; otherwise a ValueError lists all offenders.
  """
  flat, unexpected = flatten(state_dict, flax_key)
  num_classes = flat['params'].get(('fc', 'bias'), np.zeros(1000)).shape[0]
  return checked(flat, unexpected, models.backbone(arch, num_classes), arch)


def checked(flat: Dict[str, dict], unexpected, model, arch: str) -> Dict[str, dict]:
  """`flat` ({collection: {path: array}}) unflattened, once every leaf of `model` has
  a value of its shape and every value a leaf; otherwise a ValueError lists all
  offenders (`unexpected`: state_dict keys that had no place)."""
  expected = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                            jnp.zeros((1, 64, 64, 3), jnp.float32))
  problems = [f'unexpected key: {k}' for k in unexpected]
  for col in ('params', 'batch_stats'):
    want = flax.traverse_util.flatten_dict(expected[col])
    for path, shape in want.items():
      if path not in flat[col]:
        problems.append(f'missing: {col}/{"/".join(path)} {tuple(shape.shape)}')
      elif flat[col][path].shape != tuple(shape.shape):
        problems.append(f'shape mismatch: {col}/{"/".join(path)} {arch} wants '
                        f'{tuple(shape.shape)}, state_dict has {flat[col][path].shape}')
    problems += [f'unexpected key: {col}/{"/".join(p)}' for p in flat[col] if p not in want]
  if problems:
    raise ValueError(f'state_dict does not fit {arch}:\n  ' + '\n  '.join(problems))
  return {col: flax.traverse_util.unflatten_dict(flat[col]) for col in flat}


def load_torch_state_dict(path: str) -> Dict[str, np.ndarray]:
  try:
    import torch  # only the converter needs torch
  except ImportError as e:
    raise ImportError('converting .pth files needs torch (any CPU build): '
                      'pip install torch') from e
  sd = torch.load(path, map_location='cpu', weights_only=True)
  if 'state_dict' in sd and isinstance(sd['state_dict'], Mapping):
    sd = sd['state_dict']  # training checkpoints wrap the weights
  return {k: v.numpy() for k, v in sd.items()}


def load_safetensors_state_dict(path: str) -> Dict[str, np.ndarray]:
  """A torchvision-keyed .safetensors file -> numpy arrays, without torch."""
  from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  try:
    return load_file(path)
  except SafetensorError as e:
    raise ValueError(f'{path} is not a complete .safetensors file ({e}): a truncated or '
                     'corrupt download? Download it again.') from e


def load_state_dict(path: str) -> Dict[str, np.ndarray]:
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such file (see weights/README.md for the download).')
  if path.endswith('.safetensors'):
    return load_safetensors_state_dict(path)
  return load_torch_state_dict(path)


# torchvision's ImageNet weights; the 8 hex digits in a name begin the file's SHA-256.
URLS = {'resnet50': 'https://download.pytorch.org/models/resnet50-19c8e357.pth',
        'resnet18': 'https://download.pytorch.org/models/resnet18-5c106cde.pth'}


def download(url: str, directory: str) -> str:
  """Fetches `url` into `directory`, checking the SHA-256 prefix its name carries
  (``<name>-<hex>.<ext>``); a mismatch leaves nothing behind and names both hashes."""
  name = os.path.basename(url)
  m = re.search(r'-([0-9a-f]{8,64})\.[a-z]+$', name)
  if not m:
    raise ValueError(f'{url}: no SHA-256 prefix in the file name to check it against.')
  os.makedirs(directory, exist_ok=True)
  dest = os.path.join(directory, name)
  part, digest = dest + '.part', hashlib.sha256()
  try:
    with urllib.request.urlopen(url) as r, open(part, 'wb') as f:
      for chunk in iter(lambda: r.read(1 << 20), b''):
        digest.update(chunk)
        f.write(chunk)
    if not digest.hexdigest().startswith(m[1]):
      raise ValueError(f'{name}: SHA-256 {digest.hexdigest()} does not start with the '
                       f'published {m[1]}: a corrupt or truncated download; deleted.')
    os.replace(part, dest)
  finally:
    if os.path.exists(part):
      os.remove(part)
  return dest


def from_hub(spec: str, arch: Optional[str] = None) -> Tuple[Dict[str, dict], hub.Fetched, str]:
  """(variables, the checked file, arch) of a Hub spec (``hf-hub:timm/resnet50.tv_in1k``).

  `arch` (a config's model.arch) must agree with the one the repo's name says
  (`hub.arch`). Weights that do not fit it raise the converter's list of offenders.
  """
  arch = hub.arch(spec, arch)
  fetched = hub.fetch(spec)
  try:
    variables = torchvision_to_flax(load_safetensors_state_dict(fetched.path), arch)
  except ValueError as e:  # weights of another ResNet: hundreds of lines; the first say it
    head, *problems = str(e).split('\n')
    more = [f'  ... and {len(problems) - _SHOWN} more'] if len(problems) > _SHOWN else []
    raise ValueError(f'{spec} ({fetched.path}): '
                     + '\n'.join([head, *problems[:_SHOWN], *more])) from None
  return variables, fetched, arch


FLAGS = flags.FLAGS


def define_flags():
  # Defined only when run as a command: pretrained.py imports this module, and main.py
  # must not gain (and silently accept) these flags.
  flags.DEFINE_enum('arch', 'resnet50', sorted(models.STAGES), 'torchvision architecture; '
                    'for hf-hub: the one the repo name says.')
  flags.DEFINE_enum('download', None, sorted(URLS), "Fetch torchvision's file for this arch "
                    '(SHA-256 checked) instead of reading SRC; sets --arch.')
  flags.DEFINE_string('download_dir', 'weights', 'Where --download puts the file.')


# The converters' user errors: a missing or partial file, weights of another model, and a
# package to install (torch for a .pth).
ERRORS = (*cli_errors.USER_ERRORS, ImportError)


def main(argv):
  logs.quiet_libraries(None)
  try:
    _convert(argv)
  except ERRORS as e:
    sys.exit(cli_errors.report(e))


def _convert(argv):
  if FLAGS.download:
    if len(argv) != 2:
      raise app.UsageError('usage: python -m adafilter_jax.weights.convert --download resnet50 DST')
    FLAGS.arch = FLAGS.download
    argv = [argv[0], download(URLS[FLAGS.download], FLAGS.download_dir), argv[1]]
  if len(argv) != 3:
    raise app.UsageError('usage: python -m adafilter_jax.weights.convert '
                         'SRC.{pth,safetensors} | hf-hub:OWNER/NAME  DST [--arch resnet50]')
  src, dst = argv[1:]
  if hub.is_hub(src):
    variables, fetched, arch = from_hub(src, FLAGS.arch if FLAGS['arch'].present else None)
    print(f'{src}: {fetched.path} (commit {fetched.commit}, SHA-256 {fetched.sha256} checked)')
  else:
    variables, arch = torchvision_to_flax(load_state_dict(src), FLAGS.arch), FLAGS.arch
  out = store.save(variables, dst)
  n = sum(np.size(x) for x in jax.tree_util.tree_leaves(variables['params']))
  print(f'wrote {arch} ({n:,} params) to {out}')


def run():
  """The `adafilter-convert` console command (pyproject.toml)."""
  # absl's --help lists the flags of the module named by argv[0]: under a console script
  # that is the script's path, where no flag is defined.
  sys.argv[0] = __name__
  define_flags()
  app.run(main)


if __name__ == '__main__':
  run()
