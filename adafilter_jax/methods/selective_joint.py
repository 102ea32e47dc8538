"""Selective joint fine-tuning (Ge & Yu, CVPR 2017): the method's settings
(``config.selective``) and its registry entry. It trains with its own runner
(adafilter_jax/selective/run.py: retrieval, then rounds of joint training and hard-sample
mining), which main.py and the experiments grid call for ``config.method ==
'selective_joint'``; `build_model` is the network it leaves for the target task (the
shared trunk and the target head), what a plain ResNet with a new head is.
"""
import ml_collections
from ml_collections import config_dict

from adafilter_jax.data.config import get_data_config
from adafilter_jax.methods import Method, register
from adafilter_jax.methods.finetune import build_model

NAME = 'selective_joint'
SOURCE_MODES = ('selective', 'random', 'all', 'none')
BANKS = ('resnet_stem', 'alexnet', 'gabor')


def default_config() -> ml_collections.ConfigDict:
  """``config.selective``: the paper's values; docs/selective.md says where each is from."""
  c = ml_collections.ConfigDict()
  c.source = get_data_config()          # the source task's data
  c.source.name = 'imagenet2012'        # TFDS manual imagenet2012; or image_folder/<name>
  c.source.train_split = 'train'
  c.bank = 'resnet_stem'                # 'resnet_stem' | 'alexnet' | 'gabor'
  c.bank_weights = ''                   # '' = config.pretrained; 'alexnet': a .pth
  c.bank_image_size = 224               # descriptor input: resize 256, centre 224
  c.bank_resize_size = 256
  c.num_bins = config_dict.placeholder(int)  # None: 100 (CNN banks), 32 (Gabor)
  c.descriptor_batch = 64
  c.k0 = 100                            # initial neighbours per target image
  c.max_neighbours = 5000               # neighbours kept per target image (the code's cap)
  c.k_cap = config_dict.placeholder(int)  # the code's 10*K0 cap on K_i; None: no cap
  c.delta, c.sigma0, c.sigma1 = 0.1, 4.0, 2.0  # Eq. 3 (sigma in units of K0)
  c.rounds = 5
  c.source_mode = 'selective'           # 'selective' | 'random' | 'all' | 'none' (ablations)
  c.source_weight = 0.5                 # loss = (1-w) CE_target + w CE_source
  c.target_batch = 10                   # B_t target + B_t source images per batch
  c.iter_size = 10                      # batches accumulated per update (optax.MultiSteps)
  c.iterations = 16000                  # updates per round (the schedule restarts each round)
  c.decay_iterations = (4000, 8000, 12000)  # lr x decay_factor at these updates
  c.checkpoint_every = 500              # updates
  c.index_dir = 'runs/selective_index'  # the cached retrieval indexes (shared by runs)
  c.show_targets = 6                    # rows of the neighbours picture
  return c


def run(config, workdir: str):
  # Deferred: the runner imports the training machinery, which imports this registry.
  from adafilter_jax.selective import run as run_lib  # pylint: disable=g-import-not-at-top
  return run_lib.run(config, workdir)


SELECTIVE_JOINT = register(Method(name=NAME, build_model=build_model, run=run))
