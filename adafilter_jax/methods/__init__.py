"""Methods: how a pretrained ResNet is turned into a model for the target task, which
parameters train at which rate, and what is added to the loss.

Every method is one module of this package that registers a `Method`; `config.method`
picks one. The package imports each of its modules (registration is on import), so a
new baseline is one new file here: no list to extend, and the training loop only ever
talks to the `Method`.
"""
import importlib
import pkgutil

from adafilter_jax.methods.registry import (GROUPS, Loss, LossContext, Method, Preparation,
                                            Stage, backbone_kwargs, default_label, get, names,
                                            register, settings)

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f'{__name__}.{_module.name}')

__all__ = ['GROUPS', 'Loss', 'LossContext', 'Method', 'Preparation', 'Stage',
           'backbone_kwargs', 'default_label', 'get', 'names', 'register', 'settings']
