"""SpotTune's Table 2 baselines: after real optimizer steps exactly the blocks each one
freezes are unchanged (on ResNet-26 their BN running statistics too)."""
import ml_collections
import pytest

from adafilter_jax import methods
from adafilter_jax.methods import stochastic_ft
from adafilter_jax.models import resnet26
from tests.methods import decathlon_tiny as dtiny

BLOCKS = resnet26.block_names()


def _check(config, tuned):
  """`tuned`: the blocks that must train; None: those the method recorded in config."""
  before, params, stats = dtiny.train(config)
  if tuned is None:
    tuned = config.stochastic_ft.blocks.split(',')
  for name in ['conv1'] + BLOCKS:
    if name in tuned:
      assert dtiny.moved_everywhere(before['params'], params, name), name
      assert dtiny.moved_everywhere(before['batch_stats'], stats, name), name
    else:
      assert dtiny.unchanged(before['params'], params, name), name  # weight decay included
      assert dtiny.unchanged(before['batch_stats'], stats, name), name  # BN statistics too
  for name in ('head_bn', 'fc'):
    assert dtiny.moved_everywhere(before['params'], params, name), name


def test_feature_extractor_trains_only_the_head():
  _check(dtiny.config('feature_extractor'), tuned=())


def _with(config, field, **values):
  """`config` with a settings block added on purpose (the tiny config is locked)."""
  with config.unlocked():
    config[field] = ml_collections.ConfigDict(values)
  return config


@pytest.mark.parametrize('k', [1, 3])
def test_last_k_trains_exactly_the_last_k_blocks(k):
  _check(_with(dtiny.config('finetune_last_k'), 'last_k', k=k), tuned=BLOCKS[-k:])


def test_stochastic_half_is_drawn_once_per_seed_and_recorded():
  config = _with(dtiny.config('stochastic_ft', seed=3), 'stochastic_ft', blocks='')
  _check(config, tuned=None)
  recorded = config.stochastic_ft.blocks.split(',')  # written back: config.json keeps it
  assert len(recorded) == 6 and set(recorded) <= set(BLOCKS)
  again = _with(dtiny.config('stochastic_ft', seed=3), 'stochastic_ft', blocks='')
  assert stochastic_ft.tuned_blocks(again) == recorded  # the same seed, the same half
  assert len({tuple(stochastic_ft.draw(BLOCKS, s)) for s in range(5)}) > 1  # seeds differ


def test_torchvision_last_k_freezes_the_stem_and_earlier_blocks():
  config = _with(dtiny.config('finetune_last_k', arch='resnet18'), 'last_k', k=2)
  before, params, _ = dtiny.train(config)
  assert set(params) == {'conv1', 'fc', 'layer1_0', 'layer1_1', 'layer2_0', 'layer2_1',
                         'layer3_0', 'layer3_1', 'layer4_0', 'layer4_1'}
  for name in params:
    if name in ('layer4_0', 'layer4_1', 'fc'):
      assert dtiny.moved_everywhere(before['params'], params, name), name
    else:
      assert dtiny.unchanged(before['params'], params, name), name


def test_bad_settings_are_named():
  with pytest.raises(ValueError, match='last_k.k'):
    methods.get('finetune_last_k').build_model(dtiny.config('finetune_last_k'), 5, None)
  with pytest.raises(ValueError, match='13'):
    methods.get('finetune_last_k').build_model(
        _with(dtiny.config('finetune_last_k'), 'last_k', k=13), 5, None)
  with pytest.raises(ValueError, match='half'):
    methods.get('stochastic_ft').build_model(
        _with(dtiny.config('stochastic_ft'), 'stochastic_ft', blocks='layer1_0'), 5, None)
