"""The bench's variant specs: each is the config a run with those overrides would use."""
import pytest

from adafilter_jax.apps.bench import steps as bench


def test_variant_spec_modes():
  assert bench.parse_variant('ada') == ('ada', ('train', 'eval'))
  assert bench.parse_variant('ada_fused:eval') == ('ada_fused', ('eval',))
  assert bench.parse_variant('torch:eval') == ('torch', ('eval',))
  with pytest.raises(ValueError, match="unknown variant 'ada_fusd'"):
    bench.parse_variant('ada_fusd')
  with pytest.raises(ValueError, match='mode after'):
    bench.parse_variant('ada:test')


def test_variant_config_is_its_recipe_with_its_overrides():
  from configs import transfer  # pylint: disable=g-import-not-at-top
  c = bench.make_config('ada_fast', dtype='bfloat16', parallel='pmap')
  recipe = transfer.get_config('method=adafilter')
  assert c.method == 'adafilter'
  assert (c.adafilter.eval_impl, c.model.conv_impl) == ('fused', 'mixed')
  assert (c.model.dtype, c.parallel, c.pretrained) == ('bfloat16', 'pmap', '')
  assert c.optim.to_dict() == recipe.optim.to_dict()  # the paper's rates, unchanged
  assert bench.make_config('spottune').spottune.to_dict() == (
      transfer.get_config('method=spottune').spottune.to_dict())  # its settings block, from its recipe
  for name, (recipe_name, _) in bench.VARIANTS.items():  # each builds (unknown keys would fail)
    assert bench.make_config(name).method == recipe_name


def test_unknown_override_key_fails(monkeypatch):
  monkeypatch.setitem(bench.VARIANTS, 'typo', ('adafilter', ['adafilter.eval_imp=fused']))
  with pytest.raises(ValueError, match='eval_imp'):
    bench.make_config('typo')


def test_torch_peer_is_torchvisions_resnet50():
  """Against the tests' independent torchvision-layout reference: the same number of
  parameters in each kind of layer, and logits of the right shape."""
  torch = pytest.importorskip('torch')
  from adafilter_jax.apps.bench import torch_peer
  from tests.models.torch_resnet import torch_resnet
  count = lambda net, kind: sorted(p.numel() for m in net.modules() if isinstance(m, kind)
                                   for p in m.parameters())
  peer, ref = torch_peer.resnet50(10), torch_resnet('resnet50', 10)
  for kind in (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear):
    assert count(peer, kind) == count(ref, kind), kind
  assert peer(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


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


def test_without_torch_the_torch_rows_are_left_out_before_anything_compiles(monkeypatch,
                                                                           capsys):
  """requirements.txt installs no torch: the bench built five models for four minutes,
  then failed on `No module named 'torch'`."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, *a: None if name == 'torch' else find_spec(name, *a))
  runs = []

  def run(specs, *args, **kwargs):
    runs.append((specs, capsys.readouterr().out))
    return {}

  monkeypatch.setattr(bench, 'run', run)
  monkeypatch.setattr(bench, 'table', lambda *a: '')
  bench.main(['--variants', 'ft,ada:eval,torch', '--res', '16'])
  [(specs, printed)] = runs
  assert specs == ['ft', 'ada:eval']
  assert ("# torch is not installed (pip install -r requirements-test.txt): the torch peer's "
          'rows are left out.') in printed.splitlines()


def test_the_bench_compiles_the_train_step_as_main_py_does():
  """With lean units (or remat) on a CPU, main.py's train step keeps the barriers their
  plan relies on (train/parallel.py's compiler_options); so must the step the bench
  times, else it times a step whose plan XLA undid."""
  import jax  # pylint: disable=g-import-not-at-top
  from tests import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config.config('finetune', **{'model.lean_units': True})
  case = bench.JaxCase('ft_lean', ('train',), 2, 16, 'float32', 'jit', config=config,
                       num_classes=5)
  keeps = jax.default_backend() == 'cpu'
  assert ('opt-barrier' in case.train.as_text()) == keeps
