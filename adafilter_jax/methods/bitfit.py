"""BitFit-style tuning: only the batch norms' scale and bias and the new head train; every
conv kernel stays as pretrained. BitFit (Ben Zaken et al., ACL 2022) tunes a
transformer's bias terms; a torchvision ResNet's convs have none, so its counterpart is
the BN's affine parameters, the scale-and-bias tuning of Mudrakarta et al. (ICLR 2019).
The running statistics follow the training mode (the BNs normalise with the batch's
statistics in training, as in every other method here).
"""
from adafilter_jax.methods import schedules
from adafilter_jax.methods.registry import Method, default_label, register
from adafilter_jax.methods.finetune import build_model


def is_batch_norm(path) -> bool:
  """A BN's scale or bias: one of its modules is named for it (``<unit>/bn``,
  AdaFilter's ``bn_pre``, ResNet-26's ``head_bn``)."""
  return path[-1] in ('scale', 'bias') and any('bn' in name for name in path[:-1])


def label(path) -> str:
  group = default_label(path)
  if group == 'head' or (group == 'network' and is_batch_norm(path)):
    return group
  return 'frozen'


def recipe(c):
  """BitFit-style tuning: only the BN scales and biases
  and the new head train, on TLlib's recipe (methods/schedules.py).

    python main.py --config configs/transfer.py:dataset=cubs,method=bitfit

  Expected: no published number on these datasets; compare with `erm` at the same
  sampling rate. Not run here yet.
  """
  return schedules.tllib(c)


BITFIT = register(Method(name='bitfit', build_model=build_model, label=label,
                          recipe=recipe))
