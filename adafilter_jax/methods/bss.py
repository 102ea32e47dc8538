"""BSS, batch spectral shrinkage (Chen et al., NeurIPS 2019): fine-tuning with

  L = CE + eta * sum_{i=1..k} sigma_{-i}(F)^2,

sigma_{-i}(F) the i-th smallest singular value of the batch's feature matrix F
([batch, d], the pooled features the head reads), which suppresses the feature
directions the pretrained network transfers least (negative transfer). Under pmap F is
the global batch's: every device gathers all the devices' features (`all_gather`), so
the penalty is that of one device on the whole batch, and its gradient reaches every
device's features through the gather's transpose. ``config.bss``: eta, k.
"""
import jax
import jax.numpy as jnp
import ml_collections

from adafilter_jax.methods.registry import Loss, Method, register, settings
from adafilter_jax.methods import finetune


def shrinkage(features: jax.Array, k: int) -> jax.Array:
  """sum of the k smallest squared singular values of `features` [n, d]."""
  sigma = jnp.linalg.svd(features.astype(jnp.float32), compute_uv=False)  # descending
  if not 1 <= k <= sigma.shape[0]:
    raise ValueError(f'config.bss.k={k}: a {features.shape} feature matrix has '
                     f'{sigma.shape[0]} singular values')
  return jnp.sum(jnp.square(sigma[-k:]))


def feature_loss(tapped, pretrained, config, axis_name=None):
  del pretrained
  c = settings(config, 'bss', 'bss')
  features = tapped['features']
  if axis_name is not None:  # the global batch, in the devices' order
    features = jax.lax.all_gather(features, axis_name, tiled=True)
  return c.eta * shrinkage(features, c.k)


def recipe(c):
  """BSS (Chen et al., NeurIPS 2019): fine-tuning + eta * (the k smallest squared singular
  values of the batch's pooled features), eta=0.001, k=1 (the paper's and TLlib's
  defaults); weight decay and schedule as fine-tuning's (BSS is added to it).

    python main.py --config configs/transfer.py:dataset=cubs,method=bss

  Expected: about +0.2-1 points over fine-tuning at 100 % of the training data and more
  with less (TLlib, ResNet-50: CUB-200 82.0 vs ERM 81.8; Stanford Cars 88.0 vs 87.8;
  FGVC-Aircraft, `fgvc_aircraft`, 81.2 vs 80.2; adafilter_jax/methods/paper_numbers.py); not yet
  run at full size here.
  """
  c.bss = ml_collections.ConfigDict(dict(eta=0.001, k=1))
  return c


BSS = register(Method(name='bss', build_model=finetune.build_with('bss'), loss=Loss(
    lambda ctx: feature_loss(ctx.tapped, None, ctx.config, ctx.axis_name),
    intermediates=True), recipe=recipe))
