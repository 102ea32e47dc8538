"""LP-FT (Kumar et al., ICLR 2022): a linear probe on frozen features, then full
fine-tuning starting from that head, as one run in one workdir.

- ``linear_probe``: only the new head trains; the pretrained network is held (no
  gradient, rate 0) and runs in inference mode, so the head sees the pretrained
  features exactly (BN normalises with, and keeps, its pretrained statistics).
- ``lp_ft``: that probe for ``config.lp_ft.lp_epochs`` epochs (its head rate
  ``lp_lr``, decayed at ``lp_decay_epochs``), then ordinary fine-tuning of everything
  for the rest of ``config.num_epochs`` with ``config.optim`` (its decay epochs counted
  from the fine-tuning stage's first epoch) and a fresh optimizer. The training loop
  switches stages by epoch (`Method.stages`), so the run resumes anywhere, the stage
  boundary included.
"""
import ml_collections

from adafilter_jax.methods.registry import Method, Stage, register, settings
from adafilter_jax.methods import finetune

PROBE = dict(trained=('head',), bn_train=False)


def lp_ft_stages(config):
  c = settings(config, 'lp_ft', 'lp_ft')
  probe = Stage(epochs=c.lp_epochs, **PROBE,
                optim={'head_lr': c.lp_lr, 'decay_epochs': tuple(c.lp_decay_epochs)})
  return probe, Stage()


def linear_probe_recipe(c):
  """Linear probe (Kumar et al., ICLR 2022, its LP baseline): only the new head trains, on
  the pretrained network's features in inference mode (its BN statistics kept); the base
  recipe's rate and schedule for the head.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=linear_probe

  Expected: below fine-tuning in-distribution (Kumar et al., Table 1 and SpotTune's
  "feature extractor" rows, e.g. 74.07 vs 81.86 on CUBS); not yet run at full size here.
  """
  return c


def recipe(c):
  """LP-FT (Kumar et al., ICLR 2022): a linear probe (only the head, the pretrained
  network frozen in inference mode) for lp_epochs=10 at head rate lp_lr=0.01 (x0.1 at
  its epoch 6), then fine-tuning of everything from that head with the base recipe
  (lr 0.01, x0.1 at 30/60/90 of its own 110 epochs) and a fresh optimizer: 120 epochs
  in one run and workdir, resumable across the two stages.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=lp_ft

  The probe's length, rate and decay are the DELTA authors' SGD probe (channel_eval.py:
  10 epochs, lr 0.01, decayed to 0.1x by epoch 6); Kumar et al. fit the probe by L-BFGS
  logistic regression and sweep the fine-tuning rate. Expected: in-distribution about
  fine-tuning's top-1 or above (Kumar et al., Table 1: LP-FT >= FT ID on most of their
  datasets), here against `finetune`'s (AdaFilter Table 2); not yet run at full size.
  """
  c.lp_ft = ml_collections.ConfigDict(dict(lp_epochs=10, lp_lr=0.01, lp_decay_epochs=(6,)))
  c.num_epochs += c.lp_ft.lp_epochs  # the fine-tuning stage keeps the base recipe's length
  return c


LINEAR_PROBE = register(Method(name='linear_probe', build_model=finetune.build_model,
                               stages=lambda config: (Stage(**PROBE),),
                               recipe=linear_probe_recipe))
LP_FT = register(Method(name='lp_ft', build_model=finetune.build_with('lp_ft'),
                        stages=lp_ft_stages, recipe=recipe))
