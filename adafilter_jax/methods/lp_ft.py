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
from adafilter_jax.methods.registry import Method, Stage, register, settings
from adafilter_jax.methods import finetune

PROBE = dict(trained=('head',), bn_train=False)


def lp_ft_stages(config):
  c = settings(config, 'lp_ft', 'lp_ft')
  probe = Stage(epochs=c.lp_epochs, **PROBE,
                optim={'head_lr': c.lp_lr, 'decay_epochs': tuple(c.lp_decay_epochs)})
  return probe, Stage()


LINEAR_PROBE = register(Method(name='linear_probe', build_model=finetune.build_model,
                               stages=lambda config: (Stage(**PROBE),)))
LP_FT = register(Method(name='lp_ft', build_model=finetune.build_with('lp_ft'),
                        stages=lp_ft_stages))
