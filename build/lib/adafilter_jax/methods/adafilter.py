"""AdaFilter: gated fine-tuned/frozen filter copies with an LSTM gate (the paper)."""
from adafilter_jax import models
from adafilter_jax.methods import Method, backbone_kwargs, register


def build_model(config, num_classes, bn_axis_name=None):
  a = config.adafilter
  return models.adafilter_resnet(
      config.model.arch, num_classes, gate=a.gate, layers=a.layers, gated_bn=a.gated_bn,
      bn_stats=a.bn_stats, ste_through_sigmoid=a.ste_through_sigmoid, embed_dim=a.embed_dim,
      hidden_dim=a.hidden_dim, gate_arch=a.gate_arch, gate_width=a.gate_width,
      random_p=a.random_p, train_impl=a.train_impl, eval_impl=a.eval_impl,
      **backbone_kwargs(config, bn_axis_name))


ADAFILTER = register(Method(name='adafilter', build_model=build_model))
