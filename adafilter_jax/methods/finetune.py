"""Standard fine-tuning: every parameter of the pretrained ResNet trains, new head."""
from adafilter_jax import models
from adafilter_jax.models import own
from adafilter_jax.methods import schedules
from adafilter_jax.methods.registry import Method, backbone_kwargs, register, settings


def build_model(config, num_classes, bn_axis_name=None):
  if own.named(config):  # a user's own model (docs/own_model.md)
    return own.build(config.own_model, num_classes)
  return models.backbone(config.model.arch, num_classes, **backbone_kwargs(config, bn_axis_name))


def build_with(block: str):
  """This `build_model` for a method that reads ``config.<block>`` (its recipe writes
  it, named as the method): a config without the block fails here, before anything
  trains."""

  def build(config, num_classes, bn_axis_name=None):
    settings(config, block, config.method)
    return build_model(config, num_classes, bn_axis_name)

  return build


def recipe(c):
  """Standard fine-tuning (Table 2): every parameter of the pretrained ResNet-50 trains.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=finetune
  """
  return c


def erm(c):
  """TLlib's ERM: standard fine-tuning on TLlib's recipe (methods/schedules.py), the baseline
  of its sampling-rate tables; compare the other methods of that protocol (co_tuning,
  surgical, auto_rgn, bitfit) with this rather than with `finetune` (AdaFilter's recipe).

    python main.py --config configs/transfer.py:dataset=cubs,method=erm \
        --config.data.sample_rate=0.15

  Expected: TLlib's ResNet-50 numbers, `paper_numbers.TLLIB['erm']` (best-epoch top-1 % at
  15 / 30 / 50 / 100 % of the data; CUB-200 51.2 / 64.6 / 74.6 / 81.8). Not run here yet: the
  runs need a GPU and the datasets.
  """
  return schedules.tllib(c)


FINETUNE = register(Method(name='finetune', build_model=build_model, recipe=recipe,
                           recipes={'erm': erm}))
