"""The study on real Omniglot images (docs/study.md): pretrain a ResNet-18 (width 8, 32 px)
on 106 characters of three alphabets (Japanese katakana, Sanskrit, Tagalog) for 2 or 15
epochs, transfer to 86 characters of three other alphabets (Balinese, Early Aramaic,
Korean) with 5 or 15 drawers per character (the same 430 eval images), Table 2's five
methods over seeds 0/1/2, then the gate's levers on the 15-epoch source with 5 shots.
Needs the two small archives of brendenlake/omniglot prepared once (docs/data.md):

  python -m adafilter_jax.data.prepare omniglot_small --manual_dir DIR_WITH_THE_ZIPS
  python -m adafilter_jax.apps.study --config configs/study/omniglot.py --root runs/study_omniglot

Expected (docs/study.md, 5 shots, seeds 0/1/2): fine-tuning 15.7 % (2-epoch source) and
51.1 % (15-epoch); AdaFilter 1.1 and 0.5 points below it, the random policy 2.6 and 3.3.
"""
from configs.study import digits


def get_config():
  c = digits.get_config()
  c.name = 'study_omniglot'
  c.data.name = 'omniglot_small_shots5'
  c.data.image_size = c.data.resize_size = 32  # 105 px characters: strokes survive 32 px
  c.data.crop_scale = (0.7, 1.0)
  c.batch_size, c.eval_batch_size = 43, 215  # 430 train (5 shots): 10 steps; eval 2 batches
  c.num_epochs = 20
  c.optim.decay_epochs = (14,)

  s = c.study
  s.source = 'omniglot_small_source'  # 1696 training images, 106 classes
  s.source_batch_size = 32
  s.targets = ('omniglot_small_shots5', 'omniglot_small_shots15')
  s.target_overrides = {'omniglot_small_shots15': ('num_epochs=12', 'optim.decay_epochs=(8,)')}
  s.lever_cells = ('src15_omniglot_small_shots5',)
  return c
