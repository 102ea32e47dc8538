"""The model's own outputs, computed directly with flax (no inference/predict/export code):
the reference the after-training tools are held to."""
import jax
import numpy as np

from adafilter_jax.train import steps as steps_lib


def model_outputs(restored, images: np.ndarray) -> dict:
  """logits, softmax probabilities (float64) and the per-image fine-tuned fraction over
  all gated layers, per gated layer, from `model.apply` on uint8 images."""
  r = restored
  logits, gates = r.model.apply(r.variables, steps_lib.normalize(images, r.config.data),
                                train=False, rngs={'gate': jax.random.key(0)})
  logits = np.asarray(logits, np.float64)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  out = {'logits': logits, 'probs': probs / probs.sum(-1, keepdims=True)}
  if gates:
    g = {k: np.asarray(v) for k, v in gates.items()}
    out['fraction'] = np.concatenate(list(g.values()), -1).mean(-1)
    out['gates'] = g
  return out
