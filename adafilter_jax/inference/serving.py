"""Runs a model written by `python -m adafilter_jax.inference.export`, without this project's model code.

  from adafilter_jax.inference import serving
  model = serving.load('exported/adafilter')
  out = model(model.preprocess(['a.jpg', 'b.png']))   # {'logits', 'probs', ...} numpy
  model.classes[out['probs'].argmax(-1)[0]]

Needs only jax, numpy and PIL: the computation is the StableHLO in ``model.jax``
(`jax.export.deserialize`), the weights are ``weights.npz`` (its inputs, in order), the
class names and the preprocessing are in ``model.json``. This module and
`data/transforms.py` (the eval resize + centre crop) can be copied out alone.
"""
import json
import os
from typing import Dict, List, Sequence, Union

import jax
import numpy as np
import PIL

from adafilter_jax.data import transforms

MODEL, WEIGHTS, META = 'model.jax', 'weights.npz', 'model.json'
FORMAT = 'adafilter-jax-export/1'


class ExportedModel:
  """uint8 images [B, S, S, 3] (any B) -> per-image outputs, as numpy arrays."""

  def __init__(self, directory: str):
    meta_path = os.path.join(directory, META)
    if not os.path.isfile(meta_path):
      raise FileNotFoundError(f'{meta_path} not found: is {directory} an exported model?')
    with open(meta_path) as f:
      self.meta = json.load(f)
    if self.meta.get('format') != FORMAT:
      raise ValueError(f'{meta_path}: format {self.meta.get("format")!r}, expected {FORMAT!r}')
    with open(os.path.join(directory, MODEL), 'rb') as f:
      self.exported = jax.export.deserialize(bytearray(f.read()))
    with np.load(os.path.join(directory, WEIGHTS)) as z:
      self.weights = [z[f'arr_{i}'] for i in range(len(z.files))]
    self.classes: List[str] = self.meta['classes']
    self.image_size: int = self.meta['image_size']
    self._call = jax.jit(self.exported.call)

  def __call__(self, images: np.ndarray) -> Dict[str, np.ndarray]:
    images = np.asarray(images)
    want = (self.image_size, self.image_size, 3)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != want:
      raise ValueError(f'expected uint8 images [batch, {", ".join(map(str, want))}], got '
                       f'{images.dtype} {images.shape} (use .preprocess)')
    return with_probs(jax.device_get(self._call(self.weights, images)))

  def preprocess_one(self, image: Union[str, bytes, np.ndarray]) -> np.ndarray:
    """A path, encoded bytes or an RGB array -> the model's uint8 input (the eval crop)."""
    return crop(image, self.image_size, self.meta['resize_size'])

  def preprocess(self, images: Sequence[Union[str, bytes, np.ndarray]]) -> np.ndarray:
    return np.stack([self.preprocess_one(x) for x in images])


class UnreadableImage(ValueError):
  """A file that is not an image, or not a whole one; the message names it."""


def crop(image: Union[str, bytes, np.ndarray], image_size: int, resize_size: int) -> np.ndarray:
  """What the eval split feeds: short side to resize_size, centre crop image_size, uint8.

  A path that cannot be read as an image raises UnreadableImage naming the file."""
  if not isinstance(image, str):
    return transforms.eval_image(image, image_size, resize_size)
  with open(image, 'rb') as f:
    data = f.read()
  try:
    return transforms.eval_image(data, image_size, resize_size)
  except Exception as e:  # pylint: disable=broad-except  (PIL raises several kinds)
    raise UnreadableImage(f'{image}: cannot read it as an image ({_why(data, e)})') from e


def _why(data: bytes, error: Exception) -> str:
  # PIL names the file it was given, here an io.BytesIO: say what is wrong instead.
  if not data:
    return 'an empty file'
  if isinstance(error, PIL.UnidentifiedImageError):
    return 'not an image format PIL knows: a file of another kind with an image\'s name?'
  if isinstance(error, OSError):  # 'image file is truncated', 'broken data stream'...
    return str(error)
  return f'{type(error).__name__}: {error}'


def with_probs(out: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """The outputs as numpy, with the softmax of the logits as 'probs' (float64)."""
  out = {k: np.asarray(v) for k, v in out.items()}
  logits = out['logits'].astype(np.float64)
  e = np.exp(logits - logits.max(-1, keepdims=True))
  return {**out, 'probs': e / e.sum(-1, keepdims=True)}


def load(directory: str) -> ExportedModel:
  return ExportedModel(directory)
