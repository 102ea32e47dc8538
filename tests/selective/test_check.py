"""Bad settings fail before anything loads, naming the field."""
import pytest

from adafilter_jax.selective import run
from tests.selective import tiny


@pytest.mark.parametrize('field,value,match', [
    ('source_mode', 'most', 'source_mode'),
    ('bank', 'sift', 'bank'),
    ('k0', 0, 'k0'),
    ('source_weight', 1.5, 'source_weight'),
    ('bank_weights', 'weights/alexnet', 'alexnet'),
])
def test_bad_settings_are_named(field, value, match):
  config = tiny.config()
  if field == 'bank_weights':
    config.selective.bank = 'alexnet'
  setattr(config.selective, field, value)
  with pytest.raises(ValueError, match=match):
    run.check(config)


def test_stem_bank_needs_weights():
  config = tiny.config()
  config.pretrained = ''
  with pytest.raises(ValueError, match='config.pretrained'):
    run.check(config)
  run.check(tiny.config())  # the recipe's defaults pass
