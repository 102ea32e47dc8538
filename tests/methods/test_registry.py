"""Recipes registered beside their methods: a recipe sets its own method, a name is taken
once, and a method's recipe is what configs/transfer.py runs by that name."""
import ml_collections
import pytest

from adafilter_jax import methods
from adafilter_jax.methods import finetune
from adafilter_jax.methods import registry
from configs import base
from configs import transfer


@pytest.fixture
def scratch_registry(monkeypatch):
  """The registries copied, so that what a test registers is gone after it."""
  registry.names()  # every module registered first
  monkeypatch.setattr(registry, 'REGISTRY', dict(registry.REGISTRY))
  monkeypatch.setattr(registry, 'RECIPES', dict(registry.RECIPES))


@pytest.mark.parametrize('recipe, method', [
    ('adafilter', 'adafilter'), ('adafilter_standard_bn', 'adafilter'), ('erm', 'finetune'),
    ('finetune_last2', 'finetune_last_k'), ('spottune_fixed', 'spottune_fixed'),
    ('linear_probe', 'linear_probe')])
def test_a_recipe_sets_the_method_it_was_registered_with(recipe, method):
  config = base.get_config()
  config.method = 'l2sp'  # whatever was there before
  assert methods.apply_recipe(recipe, config) is config and config.method == method


def test_every_registered_method_but_one_has_a_recipe_of_its_name():
  without = set(methods.names()) - set(methods.recipe_names())
  assert without == {'finetune_last_k'}  # needs its k: finetune_last1, 2 and 3


def test_an_unknown_recipe_names_the_known_ones():
  with pytest.raises(ValueError, match=r"unknown recipe 'l2sq' .*known: \['adafilter', "):
    methods.apply_recipe('l2sq', base.get_config())


@pytest.mark.usefixtures('scratch_registry')
def test_a_name_is_taken_once_by_a_method_or_a_recipe():
  before = (dict(registry.REGISTRY), dict(registry.RECIPES))
  for name, recipes in [('finetune', {}), ('new', {'erm': lambda c: c}),
                        ('erm', {}), ('new', {'new2': lambda c: c, 'l2sp': lambda c: c})]:
    with pytest.raises(ValueError, match='is registered already'):
      methods.register(methods.Method(name=name, build_model=finetune.build_model,
                                      recipe=lambda c: c, recipes=recipes))
  assert (registry.REGISTRY, registry.RECIPES) == before  # nothing half-registered


@pytest.mark.usefixtures('scratch_registry')
def test_a_new_method_s_recipe_runs_from_the_grid_s_config_file():
  def recipe(c):
    c.toy = ml_collections.ConfigDict(dict(weight=3.0))
    return c

  methods.register(methods.Method(name='toy', build_model=finetune.build_model,
                                  recipe=recipe, recipes={'toy_light': lambda c: c}))
  config = transfer.get_config('dataset=mit_indoor,method=toy')
  assert (config.name, config.method, config.toy.weight) == ('mit_indoor_toy', 'toy', 3.0)
  assert transfer.get_config('dataset=mit_indoor,method=toy_light').method == 'toy'
  assert {'toy', 'toy_light'} <= set(methods.recipe_names())
