"""The tests' own configs are locked as main.py's are: a mistyped key fails instead of
being added (a renamed `adafilter.layers` once slipped through two test configs)."""
import pytest

from tests import tiny_config
from tests.methods import tiny as methods_tiny
from tests.systems.selective import tiny as selective_tiny


@pytest.mark.parametrize('make', [lambda **o: tiny_config.config('adafilter', **o),
                                  lambda **o: tiny_config.config(recipe='l2sp', **o),
                                  lambda **o: methods_tiny.config('adafilter', **o)])
def test_a_mistyped_key_fails(make):
  with pytest.raises((AttributeError, KeyError), match='layers'):
    make(**{'adafilter.layers': 'layer4'})
  config = make()
  with pytest.raises(AttributeError, match='layers'):
    config.adafilter.layers = 'layer4'
  assert make(**{'adafilter.gated_layers': 'layer3'}).adafilter.gated_layers == 'layer3'


def test_a_recipe_applies_on_the_tiny_config_as_on_a_dataset_s():
  """configs/transfer.py's order: the dataset's config, then the recipe (its method,
  settings block and schedule: SpotTune's batch 32, 40 epochs); the model stays tiny."""
  c = tiny_config.config(recipe='spottune')
  assert (c.method, c.spottune.tau, c.batch_size, c.num_epochs) == ('spottune', 5.0, 32, 40)
  assert (c.model.arch, c.model.width, c.data.name, c.data.image_size) == (
      'resnet10', 8, 'digits_target', 16)
  assert 'spottune' not in tiny_config.config('spottune')  # a method alone: no recipe
  assert selective_tiny.config(k0=3).selective.k0 == 3
  with pytest.raises((AttributeError, KeyError), match='k00'):
    selective_tiny.config(k00=3)
