"""Selective joint fine-tuning (Ge & Yu, CVPR 2017): its registry entry (its settings,
``config.selective``, are its recipe's: configs/methods/selective_joint.py). It trains with its own runner
(adafilter_jax/selective/run.py: retrieval, then rounds of joint training and hard-sample
mining), which main.py and the experiments grid call for ``config.method ==
'selective_joint'``; `build_model` is the network it leaves for the target task (the
shared trunk and the target head), what a plain ResNet with a new head is.
"""
from adafilter_jax.methods import Method, register
from adafilter_jax.methods.finetune import build_model

NAME = 'selective_joint'
SOURCE_MODES = ('selective', 'random', 'all', 'none')
BANKS = ('resnet_stem', 'alexnet', 'gabor')


def run(config, workdir: str):
  # Deferred: the runner imports the training machinery, which imports this registry.
  from adafilter_jax.selective import run as run_lib  # pylint: disable=g-import-not-at-top
  return run_lib.run(config, workdir)


SELECTIVE_JOINT = register(Method(name=NAME, build_model=build_model, run=run))
