"""The study on digits (docs/study.md): when does AdaFilter help, and does its gate choose
per example? Pretrain a ResNet-18 (width 8, 16 px) on digits 0-4 for 2 or 15 epochs (how
well the source features fit), transfer to digits 5-9 with 10 or 100 images per class
(the same 396 eval images), with Table 2's five methods over seeds 0/1/2, then the gate's
levers on the 15-epoch source with 10 shots:

  python -m adafilter_jax.apps.study --config configs/study/digits.py --root runs/study

Resumable (a finished run is skipped, an unfinished one resumes); writes
runs/study/study.md with mean ± std per method, AdaFilter's and the others' paired
differences to fine-tuning with 95% t-intervals over seeds, and the policy diagnostics.
84 runs; about 60 min on an idle 2-core CPU (estimated: docs/study.md). Expected (docs/study.md, seeds 0/1/2): fine-tuning
74.4 / 90.1 / 69.4 / 89.3 % in src2 10-shot / 100-shot, src15 10 / 100; AdaFilter
2.5-6.5 points below it, the random policy 11-13 below; ~40 % of the gate's filters vary
across images. Each cell is also one training config of its own,
e.g. ``python main.py --config configs/transfer.py:dataset=study.digits,method=adafilter
--config.pretrained=runs/study/source_e15/weights --config.data.name=digits_shots100``.
"""
import ml_collections

from configs import base


def get_config():
  c = base.get_config()
  c.name = 'study_digits'
  c.pretrained = ''  # the study sets it: each cell starts from its own source weights
  c.model.arch, c.model.width = 'resnet18', 8
  c.adafilter.embed_dim = c.adafilter.hidden_dim = 32
  c.data.name = 'digits_shots10'
  c.data.image_size = c.data.resize_size = 16  # the 8x8 digits upsampled 2x: no detail lost
  c.data.crop_scale = (0.6, 1.0)  # as the demo: a cropped or flipped digit changes class
  c.data.flip = False
  c.batch_size, c.eval_batch_size = 10, 132  # 396 eval images: 3 full batches
  c.num_epochs = 30
  c.optim.decay_epochs = (20,)
  c.progress_bar = False

  s = c.study = ml_collections.ConfigDict()
  s.source = 'digits_source'       # 721 training images of digits 0-4, from scratch
  s.source_epochs = (2, 15)        # weakly / well pretrained source features
  s.source_batch_size = 32
  s.source_lr = 0.1
  s.targets = ('digits_shots10', 'digits_shots100')
  # Per target, overrides of the settings above: 100 shots train 300 steps of 25.
  s.target_overrides = {'digits_shots100': ('batch_size=25', 'num_epochs=15',
                                            'optim.decay_epochs=(10,)')}
  s.methods = ('finetune', 'finetune_half', 'random_policy', 'l2sp', 'adafilter')
  s.seeds = (0, 1, 2)
  # The gate's levers the paper leaves open, each AdaFilter with these overrides, on
  # these cells (source epochs, target).
  s.levers = {
      'gate_lr_001': ('optim.gate_lr=0.01',), 'gate_lr_1': ('optim.gate_lr=1.0',),
      'norm_layer': ('adafilter.gate_input_norm=layer',),
      'norm_batch': ('adafilter.gate_input_norm=batch',),
      'bias_0': ('adafilter.gate_head_bias=0.0',), 'bias_2': ('adafilter.gate_head_bias=2.0',),
      'ste_sigmoid': ('adafilter.ste_through_sigmoid=True',),
      'bn_selected': ('adafilter.bn_stats=selected',),
  }
  s.lever_cells = ('src15_digits_shots10',)
  return c
