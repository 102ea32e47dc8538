"""Co-Tuning (You et al., NeurIPS 2020): keep the pretrained network's own ImageNet head
``source_fc`` beside the new one and train it on the target labels translated into the
source categories.

1. Before training, the category relationship p(y_s | y_t) is estimated on the training
   set by TLlib's direct approach: the pretrained network (eval mode, the evaluation
   transform) gives every training image its source-class probabilities
   softmax(z_s(x)); their mean over the images of target class t is row t of R:

     R[t] = 1/|{i: y_i = t}| * sum_{i: y_i = t} softmax(z_s(x_i))       [C_t, C_s]

2. Training minimises, per batch,

     CE(z_t(x), y) + lambda * mean_i [ -sum_s R[y_i, s] * log softmax(z_s(x_i))_s ]

   with lambda = ``co_tuning.trade_off`` (2.3, TLlib's and the authors' default).

The backbone and the source head train at the network's rate, the new head at
``optim.head_lr`` (TLlib: 10x). Test time uses the new head only. R is computed once per
workdir (its `prepare` step; the loop keeps it in ``method_constants.npz``, as TLlib caches
relationship.npy).
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from adafilter_jax import models
from adafilter_jax.methods import schedules
from adafilter_jax.methods.registry import Loss, Method, backbone_kwargs, register, settings

SOURCE_LOGITS = 'source_logits'  # what models.resnet.WithSourceHead sows


def build_model(config, num_classes, bn_axis_name=None):
  c = settings(config, 'co_tuning', 'co_tuning')
  if not config.pretrained:
    raise ValueError("co_tuning needs the pretrained network's own head (its fc): "
                     "config.pretrained is '' (set it to converted weights).")
  return models.backbone(config.model.arch, num_classes, model_cls=models.WithSourceHead,
                         source_classes=c.source_classes,
                         **backbone_kwargs(config, bn_axis_name))


def relationship(batches, num_classes: int) -> np.ndarray:
  """R [num_classes, C_s]: row t the mean source-class probabilities of the examples of
  target class t, over `batches` of (probabilities [b, C_s], labels [b])."""
  sums, counts = 0.0, np.zeros(num_classes, np.int64)
  for probs, labels in batches:
    part = np.zeros((num_classes, probs.shape[-1]), np.float64)
    np.add.at(part, labels, probs)
    sums, counts = sums + part, counts + np.bincount(labels, minlength=num_classes)
  if np.any(counts == 0):
    raise ValueError(f'co_tuning: target classes {np.flatnonzero(counts == 0).tolist()} have '
                     'no training image to estimate their relationship from.')
  return (sums / counts[:, None]).astype(np.float32)


def prepare(prep):
  """{'relationship': R}, from the starting model over every training image."""
  probs = ((np.asarray(jax.nn.softmax(out[SOURCE_LOGITS], axis=-1)), labels)
           for out, labels in prep.train_outputs([SOURCE_LOGITS]))
  return {'relationship': relationship(probs, prep.num_classes)}


def batch_loss(intermediates, batch, consts, config):
  """lambda * the cross-entropy of the source head against the translated labels."""
  soft = jnp.asarray(consts['relationship'])[batch['label']]
  log_p = jax.nn.log_softmax(intermediates[SOURCE_LOGITS], axis=-1)
  c = settings(config, 'co_tuning', 'co_tuning')
  return c.trade_off * jnp.mean(-jnp.sum(soft * log_p, axis=-1))


def recipe(c):
  """Co-Tuning (You et al., NeurIPS 2020): the ImageNet
  head kept and trained on the target labels translated by the category relationship,
  trade-off 2.3 (TLlib's and the authors' default), on TLlib's recipe (methods/schedules.py).
  The ImageNet weights keep their 1000-class fc (the converters and the Hub's conversion do).

    python main.py --config configs/transfer.py:dataset=cubs,method=co_tuning \
        --config.data.sample_rate=0.15

  Expected: TLlib's ResNet-50 numbers, `paper_numbers.TLLIB['co_tuning']` (best-epoch top-1
  % at 15 / 30 / 50 / 100 % of the data; CUB-200 57.6 / 70.1 / 77.3 / 82.5). Not run here
  yet: the runs need a GPU and the datasets.
  """
  c.co_tuning = ml_collections.ConfigDict(dict(trade_off=2.3, source_classes=1000))
  return schedules.tllib(c)


CO_TUNING = register(Method(name='co_tuning', build_model=build_model, prepare=prepare,
                            loss=Loss(lambda ctx: batch_loss(ctx.sown, ctx.batch, ctx.constants,
                                                             ctx.config), intermediates=True),
                            recipe=recipe))
