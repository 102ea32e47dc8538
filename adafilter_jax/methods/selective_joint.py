"""Selective joint fine-tuning (Ge & Yu, CVPR 2017): its registry entry (its settings,
``config.selective``, are its recipe's, below). It trains in
rounds, with a runner of its own (adafilter_jax/systems/selective/run.py: retrieval, then
rounds of joint training and hard-sample mining) that the applications' job table
(adafilter_jax/apps/jobs.py) picks for this method; `build_model` is the network it leaves
for the target task (the shared trunk and the target head), what a plain ResNet with a new
head is.
"""
import ml_collections
from ml_collections import config_dict

from adafilter_jax.data.config import get_data_config
from adafilter_jax.methods.registry import Method, register
from adafilter_jax.methods.finetune import build_model

NAME = 'selective_joint'
SOURCE_MODES = ('selective', 'random', 'all', 'none')
BANKS = ('resnet_stem', 'alexnet', 'gabor')
# Initial neighbours per target image (the paper's Sec. 4.2), by dataset config's name.
K0 = {'stanford_dogs': 100, 'caltech256_30': 100, 'caltech256_60': 100, 'mit_indoor': 100}


def recipe(c):
  """Selective joint fine-tuning (Ge & Yu, CVPR 2017): ImageNet as the source, source images
  retrieved by the conv1+conv2 responses of the converted ResNet's stem, 5 rounds of
  hard-sample mining, 10 + 10 images per batch accumulated 10 times per update.

    python main.py --config configs/transfer.py:dataset=caltech256_30,method=selective_joint
    # the Gabor bank, or torchvision's AlexNet as the paper's bank:
    #   --config.selective.bank=gabor
    #   --config.selective.bank=alexnet
    #     --config.selective.bank_weights=weights/alexnet-owt-7be5be79.pth
    # the official code's switches, off as in the paper: K_i capped at 10 K0, and hard
    # target images drawn K_i // K0 times per epoch (the paper draws each once):
    #   --config.selective.k_cap=1000 (K0 = 100) --config.selective.oversample_hard=True

  ImageNet is TFDS's manual `imagenet2012`, prepared once (no TensorFlow needed) from the
  two archives of image-net.org, ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar, put
  unopened in one folder DIR:

    python -m adafilter_jax.data.prepare imagenet2012 --manual_dir DIR --data_dir TFDS_DIR

  The source is read from `selective.source.data_dir` (None: $TFDS_DATA_DIR, else
  ~/tensorflow_datasets), which does not follow `data.data_dir`: with a --data_dir of your
  own, pass it to both (--config.selective.source.data_dir=TFDS_DIR). Places or any other
  source: `selective.source.name = 'image_folder/<name>'` (docs/data.md). K0 per dataset is
  the paper's (Sec. 4.2). See docs/selective.md.
  """
  # The paper's values; docs/selective.md says where each is from.
  s = ml_collections.ConfigDict()
  s.source = get_data_config()          # the source task's data
  s.source.name = 'imagenet2012'        # TFDS manual imagenet2012; or image_folder/<name>
  s.source.train_split = 'train'
  s.bank = 'resnet_stem'                # 'resnet_stem' | 'alexnet' | 'gabor'
  s.bank_weights = ''                   # '' = config.pretrained; 'alexnet': a .pth
  s.bank_image_size = 224               # descriptor input: resize 256, centre 224
  s.bank_resize_size = 256
  s.num_bins = config_dict.placeholder(int)  # None: 100 (CNN banks), 32 (Gabor)
  s.descriptor_batch = 64
  s.k0 = K0.get(c.name, 100)            # initial neighbours per target image
  s.max_neighbours = 5000               # neighbours kept per target image (the code's cap)
  s.k_cap = config_dict.placeholder(int)  # the code's 10*K0 cap on K_i; None: no cap
  # The code's oversampling of hard images: target i drawn K_i // K0 times per epoch (its
  # "sampling level"), so an image wrong once is drawn 5 times, unsure once 3 times.
  # False: once per epoch, as in the paper. Applies to every source_mode.
  s.oversample_hard = False
  s.delta, s.sigma0, s.sigma1 = 0.1, 4.0, 2.0  # Eq. 3 (sigma in units of K0)
  s.rounds = 5
  s.source_mode = 'selective'           # 'selective' | 'random' | 'all' | 'none' (ablations)
  s.source_weight = 0.5                 # loss = (1-w) CE_target + w CE_source
  s.target_batch = 10                   # B_t target + B_t source images per batch
  s.iter_size = 10                      # batches accumulated per update (optax.MultiSteps)
  s.iterations = 16000                  # updates per round (the schedule restarts each round)
  s.decay_iterations = (4000, 8000, 12000)  # lr x decay_factor at these updates
  s.checkpoint_every = 500              # updates
  s.index_dir = 'runs/selective_index'  # the cached retrieval indexes (shared by runs)
  s.show_targets = 6                    # rows of the neighbours picture
  s.source.data_dir = c.data.data_dir
  c.selective = s
  return c


SELECTIVE_JOINT = register(Method(name=NAME, build_model=build_model, recipe=recipe))
