"""The tests' own configs are locked as main.py's are: a mistyped key fails instead of
being added (a renamed `adafilter.layers` once slipped through two test configs)."""
import pytest

from tests.methods import tiny as methods_tiny
from tests.train import tiny as train_tiny


@pytest.mark.parametrize('make', [lambda **o: train_tiny.config('adafilter', **o),
                                  lambda **o: methods_tiny.config('adafilter', **o)])
def test_a_mistyped_key_fails(make):
  with pytest.raises((AttributeError, KeyError), match='layers'):
    make(**{'adafilter.layers': 'layer4'})
  config = make()
  with pytest.raises(AttributeError, match='layers'):
    config.adafilter.layers = 'layer4'
  assert make(**{'adafilter.gated_layers': 'layer3'}).adafilter.gated_layers == 'layer3'
