"""L2-SP (Li et al., ICML 2018), the AdaFilter Table 2 baseline: instead of weight decay,

  alpha/2 * ||w - w0||^2 over the pretrained conv/dense kernels (w0 = pretrained)
  + beta/2 * ||w||^2 over the new head's kernel,

so fine-tuning is pulled back to the starting point rather than to zero. Biases and BN
parameters are not regularised (as the weight decay it replaces). alpha and beta are
``config.l2sp``, which its recipe (below) sets.
"""
import flax
import jax.numpy as jnp
import ml_collections

from adafilter_jax.methods.registry import Loss, Method, register, settings
from adafilter_jax.methods import finetune


def regularizer(params, pretrained_params, config):
  c = settings(config, 'l2sp', 'l2sp')
  flat = flax.traverse_util.flatten_dict(params)
  start = flax.traverse_util.flatten_dict(pretrained_params)
  sq = lambda a: jnp.sum(jnp.square(a.astype(jnp.float32)))
  kernels = [p for p in flat if p[-1] == 'kernel']
  sp = sum(sq(flat[p] - start[p]) for p in kernels if p[0] != 'fc')
  head = sum(sq(flat[p]) for p in kernels if p[0] == 'fc')
  return c.alpha / 2 * sp + c.beta / 2 * head


def recipe(c):
  """L2-SP (Table 2): alpha/2 ||w - w0||^2 on the pretrained kernels, beta/2 ||w||^2 on
  the head (alpha 0.1, beta 0.01), instead of weight decay.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=l2sp
  """
  c.l2sp = ml_collections.ConfigDict(dict(alpha=0.1, beta=0.01))  # the L2-SP authors'
  c.optim.weight_decay = 0.0  # replaced by the regularizer (the loop drops it anyway)
  return c


L2SP = register(Method(name='l2sp', build_model=finetune.build_with('l2sp'), loss=Loss(
    lambda ctx: regularizer(ctx.params, ctx.pretrained, ctx.config), pretrained=True,
    replaces_weight_decay=True), recipe=recipe))
