"""Methods: how a pretrained ResNet is turned into a model for the target task, which
parameters train at which rate, and what is added to the loss.

Every method is one small module that registers a `Method`; `config.method` picks one.
The training loop only ever talks to the `Method`, so adding a baseline never touches it.
"""
from adafilter_jax.methods.registry import (GROUPS, Method, Stage, backbone_kwargs,
                                            default_label, get, names, register, settings)
# Each method module registers itself on import.
from adafilter_jax.methods import adafilter, finetune  # noqa: E402,F401  isort: skip
from adafilter_jax.methods import finetune_half, l2sp, random_policy, spottune  # noqa: E402,F401
from adafilter_jax.methods import feature_extractor, last_k, spottune_all_ft  # noqa: E402,F401
from adafilter_jax.methods import selective_joint, stochastic_ft  # noqa: E402,F401
from adafilter_jax.methods import bss, delta, lp_ft  # noqa: E402,F401
from adafilter_jax.methods import bitfit, co_tuning, surgical  # noqa: E402,F401

__all__ = ['GROUPS', 'Method', 'Stage', 'backbone_kwargs', 'default_label', 'get', 'names',
           'register', 'settings']

