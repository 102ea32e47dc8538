"""The Decathlon configs: one per domain, SpotTune's Decathlon recipe for every method."""
import pytest

from adafilter_jax.systems import decathlon
from adafilter_jax.data import datasets
from adafilter_jax.train import config_files
from configs import decathlon as decathlon_configs
from configs import transfer


@pytest.mark.parametrize('domain', decathlon.DOMAINS)
def test_every_domain_has_a_config_on_the_decathlon_split(domain):
  module = domain.replace('-', '_')
  config = transfer.on_dataset(f'decathlon.{module}', 'spottune')
  assert decathlon.domain_of(config.data.name) == domain
  spec = datasets.resolve(config.data.name)
  assert (spec.train_split, spec.eval_split) == ('train', 'validation')
  assert config.data.resize_size == 72 and config.data.image_size in (64, 72)
  assert config.model.arch == 'resnet26' and config.model.width == 32
  # SpotTune's Table 3 column of this domain (independently: the published row)
  assert config.paper_top1.spottune == decathlon.PAPER_TABLE3['SpotTune'][1][
      decathlon.DOMAINS.index(domain)]


def test_paper_numbers_carry_the_corrected_feature_extractor_dtd():
  config = transfer.on_dataset('decathlon.dtd', 'feature_extractor')
  assert config.paper_top1.feature_extractor == 45.37  # Rebuffi et al. 2017; SpotTune: 55.53
  assert config.paper_top1.finetune == 55.53


@pytest.mark.parametrize('recipe', ['spottune', 'finetune', 'feature_extractor',
                                    'finetune_last2', 'adafilter'])
def test_every_method_follows_the_decathlon_schedule(recipe):
  config = transfer.on_dataset('decathlon.dtd', recipe)
  assert (config.batch_size, config.num_epochs, config.optim.lr) == (128, 110, 0.1)
  assert tuple(config.optim.decay_epochs) == (40, 60, 80)
  assert config.optim.gate_lr == 0.01
  assert config.optim.weight_decay == 0.0  # the official code's for DTD
  assert tuple(config.data.mean) == decathlon_configs.DOMAINS['dtd'][0]


def test_the_random_crop_and_its_exceptions():
  crop = transfer.on_dataset('decathlon.aircraft', 'finetune').data
  assert (crop.image_size, crop.flip) == (64, False)
  assert tuple(crop.crop_scale) == pytest.approx(((64 / 72)**2,) * 2)
  whole = transfer.on_dataset('decathlon.svhn', 'finetune').data
  assert (whole.image_size, tuple(whole.crop_scale)) == (72, (1.0, 1.0))


def test_unknown_domain_is_named():
  with pytest.raises(ValueError, match="unknown Decathlon domain 'caltech'"):
    decathlon_configs.get_config('domain=caltech,method=finetune')


def test_one_file_for_the_ten_domains_spottune_by_default():
  """`python main.py --config configs/decathlon.py:vgg_flowers`: SpotTune on VGG-Flowers
  (the domain's name with '_' for '-'), named as the per-domain files named it; another
  method by the argument, the same as the grid's decathlon.<domain>."""
  c = config_files.load('configs/decathlon.py:vgg_flowers')
  assert (c.name, c.method, c.data.name) == ('decathlon_vgg_flowers', 'spottune',
                                             'decathlon_vgg_flowers')
  assert c.spottune.policy_width == 32 and c.optim.gate_lr == 0.01
  c = config_files.load('configs/decathlon.py:domain=dtd,method=feature_extractor')
  grid = transfer.on_dataset('decathlon.dtd', 'feature_extractor')
  assert grid.name == 'decathlon.dtd_feature_extractor'
  assert {**c.to_dict(), 'name': ''} == {**grid.to_dict(), 'name': ''}


# TFDS catalog page of visual_domain_decathlon (train / validation / test), typed from it.
CATALOG_SPLITS = {
    'imagenet12': (1232167, 49000, 48238), 'aircraft': (3334, 3333, 3333),
    'cifar100': (40000, 10000, 10000), 'daimlerpedcls': (23520, 5880, 19600),
    'dtd': (1880, 1880, 1880), 'gtsrb': (31367, 7842, 12630),
    'vgg-flowers': (1020, 1020, 6149), 'omniglot': (17853, 6492, 8115),
    'svhn': (47217, 26040, 26032), 'ucf101': (7585, 1952, 3783),
}


@pytest.mark.parametrize('domain', decathlon.DOMAINS)
def test_every_domain_registers_the_catalog_split_sizes(domain):
  spec = datasets.resolve(f'decathlon_{domain.replace("-", "_")}')
  train, val, test = CATALOG_SPLITS[domain]
  assert (spec.num_train, spec.num_eval) == (train, val)
  # Omniglot: 20 drawings of each of 1623 characters, 11 / 4 / 5 of them per split
  if domain == 'omniglot':
    assert (train, val, test) == tuple(k * spec.num_classes for k in (11, 4, 5))
