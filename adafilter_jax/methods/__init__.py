"""Methods: how a pretrained ResNet is turned into a model for the target task, which
parameters train at which rate, and what is added to the loss.

Every method is one module of this package that registers a `Method`, with its recipes
(its settings and schedule, under names that configs/transfer.py's `method=` and the
experiments grid take); `config.method` picks one. The registry imports each module of
the package at its first lookup (registration is on import), so a new baseline is one new
file here: no list to extend, and the training loop only ever talks to the `Method`.
"""
from adafilter_jax.methods.registry import (GROUPS, Loss, LossContext, Method, Preparation,
                                            Recipe, Stage, apply_recipe, backbone_kwargs,
                                            default_label, get, names, recipe_names,
                                            register, settings)

__all__ = ['GROUPS', 'Loss', 'LossContext', 'Method', 'Preparation', 'Recipe', 'Stage',
           'apply_recipe', 'backbone_kwargs', 'default_label', 'get', 'names',
           'recipe_names', 'register', 'settings']
