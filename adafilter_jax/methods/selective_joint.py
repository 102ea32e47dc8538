"""Selective joint fine-tuning (Ge & Yu, CVPR 2017): its registry entry (its settings,
``config.selective``, are its recipe's: configs/methods/selective_joint.py). It trains in
rounds, with a runner of its own (adafilter_jax/systems/selective/run.py: retrieval, then
rounds of joint training and hard-sample mining) that the applications' job table
(adafilter_jax/apps/jobs.py) picks for this method; `build_model` is the network it leaves
for the target task (the shared trunk and the target head), what a plain ResNet with a new
head is.
"""
from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods.finetune import build_model

NAME = 'selective_joint'
SOURCE_MODES = ('selective', 'random', 'all', 'none')
BANKS = ('resnet_stem', 'alexnet', 'gabor')

SELECTIVE_JOINT = register(Method(name=NAME, build_model=build_model))
