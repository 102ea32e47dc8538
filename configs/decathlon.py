"""SpotTune's own setting: the Decathlon ResNet-26 on a Visual Decathlon domain.

One config file for the ten domains, ``configs/decathlon.py:domain=<domain>,method=<recipe>``
(a lone value is the domain; the domains: `DOMAINS`, vgg_flowers for vgg-flowers), with
SpotTune's Decathlon recipe (its Sec. 4.1): SGD momentum 0.9, lr 0.1, the policy's lr
0.01, batch 128, 110 epochs, x0.1 at 40, 60 and 80; SpotTune (tau 5, the stem and the
first stage frozen, the other 8 blocks gated) by default. Every recipe (configs/transfer.py)
runs on the same schedule, which replaces the recipe's own:

  python main.py --config configs/decathlon.py:aircraft                       # SpotTune
  python main.py --config configs/decathlon.py:domain=aircraft,method=adafilter
  python main.py --config configs/decathlon.py:domain=aircraft,method=feature_extractor

The experiments grid names a domain as a dataset: ``--datasets decathlon.aircraft``.
SpotTune's Table 3 numbers are in `paper_top1`.

Not in the paper, from the official code (gyhui14/spottune): the per-domain weight decay,
the per-domain mean/std (residual_adapters' decathlon_mean_std.pickle) and the crops:
Resize(72) + RandomCrop(64) in training, except GTSRB, Omniglot, SVHN and Daimler
(72 px, no crop); no flip. Here the random 64 crop is a random-resized crop of fixed
area (64/72)^2 (its aspect still varies in [3/4, 4/3]) and evaluation centre-crops
`image_size` (the official code evaluates the whole 72 px image); Daimler's 72 x 144
images are centre-cropped to 72 x 72. The Decathlon's test labels are private: the
runs train on train and evaluate on validation (the official code trains on
train + validation and submits test predictions).
"""
import ml_collections

from adafilter_jax import methods
from adafilter_jax.systems import decathlon
from configs import base

# domain: (mean, std, weight decay, random 64 crop in training)
DOMAINS = {
    'imagenet12': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1e-4, True),
    'aircraft': ((0.4798, 0.5107, 0.5344), (0.2107, 0.2051, 0.2373), 5e-4, True),
    'cifar100': ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761), 0.0, True),
    'daimlerpedcls': ((0.482,) * 3, (0.2361,) * 3, 5e-4, False),
    'dtd': ((0.527, 0.4703, 0.424), (0.2523, 0.2409, 0.2499), 0.0, True),
    'gtsrb': ((0.3392, 0.3118, 0.3205), (0.2756, 0.2658, 0.2709), 0.0, False),
    'vgg-flowers': ((0.4341, 0.3831, 0.2971), (0.2851, 0.2384, 0.264), 1e-4, True),
    'omniglot': ((0.081,) * 3, (0.2705,) * 3, 5e-4, False),
    'svhn': ((0.4377, 0.4438, 0.4728), (0.198, 0.201, 0.197), 0.0, False),
    'ucf101': ((0.4995, 0.4988, 0.4998), (0.109, 0.1081, 0.1068), 5e-4, True),
}
# SpotTune's Table 3 rows, by the recipe that reproduces them.
_PAPER_ROWS = {'spottune': 'SpotTune', 'spottune_fixed': 'SpotTune (Global-k)',
               'finetune': 'Fine-tuning', 'feature_extractor': 'Feature extractor'}


def paper_top1(domain: str) -> dict:
  table = decathlon.paper_table3()  # the feature extractor's DTD as in its source
  return {recipe: table[row][1][domain] for recipe, row in _PAPER_ROWS.items()}


def schedule(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """SpotTune's Decathlon schedule, which every method follows here (a method recipe's
  own schedule, e.g. SpotTune's ResNet-50 one, is replaced by it)."""
  c.batch_size = c.eval_batch_size = 128
  c.num_epochs = 110
  c.optim.lr = 0.1
  c.optim.gate_lr = 0.01  # SpotTune's policy net; AdaFilter's gate gets it too
  c.optim.decay_epochs = (40, 60, 80)
  c.optim.decay_factor = 0.1
  return c


def domain_config(domain: str) -> ml_collections.ConfigDict:
  """The paper's recipe on `domain` with the Decathlon's model, data and weight decay,
  named decathlon_<domain>; no method's recipe yet."""
  if domain not in DOMAINS:
    raise ValueError(f'unknown Decathlon domain {domain!r}; expected one of {list(DOMAINS)}')
  mean, std, weight_decay, crop = DOMAINS[domain]
  c = base.get_config()
  c.name = f'decathlon_{domain.replace("-", "_")}'
  c.model.arch, c.model.width = 'resnet26', 32
  c.pretrained = 'weights/resnet26'  # python -m adafilter_jax.weights.convert_resnet26 (docs/decathlon.md)
  c.data.name = c.name
  c.data.mean, c.data.std = mean, std
  c.data.resize_size = 72
  c.data.image_size = 64 if crop else 72
  c.data.crop_scale = ((64 / 72)**2,) * 2 if crop else (1.0, 1.0)
  c.data.flip = False
  c.optim.weight_decay = weight_decay
  c.paper_top1 = ml_collections.ConfigDict(paper_top1(domain))
  return c


def get_config(arg=None) -> ml_collections.ConfigDict:
  """Recipe `method` on `domain`, then the Decathlon's settings over the recipe's: the
  schedule, and the policy net sized for ResNet-26."""
  a = base.parse_arg(arg, domain='', method='spottune')
  domain = a['domain'] if a['domain'] in DOMAINS else a['domain'].replace('_', '-')
  c = methods.apply_recipe(a['method'], domain_config(domain))
  if 'spottune' in c:
    c.spottune.policy_width = 32  # the policy ResNet's stem; its stages are 64/128/256
  return schedule(c)
