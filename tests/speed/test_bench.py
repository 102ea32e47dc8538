"""The bench's variant specs: each is the config a run with those overrides would use."""
import pytest

from adafilter_jax import bench


def test_variant_spec_modes():
  assert bench.parse_variant('ada') == ('ada', ('train', 'eval'))
  assert bench.parse_variant('ada_fused:eval') == ('ada_fused', ('eval',))
  assert bench.parse_variant('torch:eval') == ('torch', ('eval',))
  with pytest.raises(ValueError, match="unknown variant 'ada_fusd'"):
    bench.parse_variant('ada_fusd')
  with pytest.raises(ValueError, match='mode after'):
    bench.parse_variant('ada:test')


def test_variant_config_is_the_base_recipe_with_its_overrides():
  from configs.base import get_config
  base = get_config()
  c = bench.make_config('ada_fast', dtype='bfloat16', parallel='pmap')
  assert c.method == 'adafilter'
  assert (c.adafilter.eval_impl, c.model.conv_impl) == ('fused', 'mixed')
  assert (c.model.dtype, c.parallel, c.pretrained) == ('bfloat16', 'pmap', '')
  assert c.optim.to_dict() == base.optim.to_dict()  # the paper's rates, unchanged
  assert bench.make_config('spottune').method == 'spottune'
  for name, (method, _) in bench.VARIANTS.items():  # each builds (unknown keys would fail)
    assert bench.make_config(name).method == method


def test_unknown_override_key_fails(monkeypatch):
  monkeypatch.setitem(bench.VARIANTS, 'typo', ('adafilter', {'adafilter.eval_imp': 'fused'}))
  with pytest.raises(KeyError, match='eval_imp'):
    bench.make_config('typo')


def test_table_ratios_are_taken_within_rounds():
  nan = float('nan')
  row = lambda train, evals, mem: dict(
      train=sorted(train)[1] if train else nan, eval=sorted(evals)[1],
      rounds={**({'train': train} if train else {}), 'eval': evals},
      compile_train=0.0, compile_eval=0.0, mem_train=mem, mem_eval=nan)
  # The machine slowed down 2x in round 2: within-round ratios stay 2x and 1.5x.
  results = {'ft': row([1.0, 2.0, 1.0], [1.0, 2.0, 1.0], 100.0),
             'ada': row([2.0, 4.0, 2.0], [1.5, 3.0, 1.5], 180.0),
             'ada_fused_group': row(None, [3.0, 6.0, 3.0], nan)}
  text = bench.table(results, batch=8, res=224)
  assert '- ada: train 2.00x (2.00x), eval 1.50x (1.50x), train memory 1.80x' in text
  assert '- ada_fused_group: eval 3.00x (3.00x)' in text
  assert '| ada_fused_group | – | 2.67 | – | 3.0000 |' in text  # not timed in training
  assert 'fastest ada eval (ada) / fastest plain (ft): 1.50x' in text
