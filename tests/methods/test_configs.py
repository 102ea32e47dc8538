"""Every recipe loads on a dataset config, names a registered method
and builds its model; the recipes carry the papers' settings."""
import ast
import os
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adafilter_jax.train import checks
from adafilter_jax.train import command_line
from adafilter_jax.train import config_files
from adafilter_jax import methods
from adafilter_jax.methods import paper_numbers
from adafilter_jax.weights import pretrained
from adafilter_jax import models
from configs import transfer
from tests.methods import tiny


@pytest.mark.parametrize('name', methods.recipe_names())
def test_recipe_builds_its_model(name):
  config = transfer.on_dataset('caltech256_30', name)
  assert config.name == f'caltech256_30_{name}' and config.data.name == 'caltech256_30'
  method = methods.get(config.method)
  config.model.arch, config.model.width = 'resnet18', 4
  config.adafilter.embed_dim = config.adafilter.hidden_dim = 8
  config.adafilter.gate_width = 4
  if 'spottune' in config:
    config.spottune.policy_width = 4
    config.spottune.blocks = 'layer2_1,layer4_0'
  model = method.build_model(config, 7, None)
  shapes = jax.eval_shape(lambda: model.init(
      {'params': jax.random.key(0), 'gate': jax.random.key(1)},
      jnp.zeros((1, 32, 32, 3)), train=False))
  assert shapes['params']['fc']['kernel'].shape[-1] == 7
  labels = set(jax.tree.leaves(method.labels(shapes['params'], config)))
  assert labels <= set(methods.GROUPS)
  assert 'network' in labels or name == 'feature_extractor'  # it trains only the head


def test_recipes_carry_the_papers_settings():
  get = lambda name: transfer.on_dataset('mit_indoor', name)
  c = get('spottune')
  assert (c.batch_size, c.num_epochs, c.optim.lr, c.optim.gate_lr) == (32, 40, 0.01, 1e-4)
  assert tuple(c.optim.decay_epochs) == (15, 30) and c.optim.decay_factor == 0.1
  assert c.spottune.tau == 5.0 and c.spottune.policy_width == 64
  assert get('spottune_global_k').spottune.k == 3
  c = get('l2sp')
  assert (c.l2sp.alpha, c.l2sp.beta, c.optim.weight_decay) == (0.1, 0.01, 0.0)
  assert get('adafilter_standard_bn').adafilter.gated_bn is False
  assert get('adafilter_cnn_gate').adafilter.gate == 'cnn'
  assert get('random_policy').method == 'random_policy'
  base = get('adafilter')
  assert (base.batch_size, base.num_epochs, base.optim.gate_lr) == (64, 110, 0.1)
  c = get('co_tuning')  # TLlib's recipe: 5360 images, 111 steps a pass -> 90 epochs
  assert (c.co_tuning.trade_off, c.co_tuning.source_classes) == (2.3, 1000)
  assert (c.batch_size, c.optim.lr, c.optim.head_lr, c.optim.nesterov) == (48, 1e-3, 1e-2, True)
  assert (c.optim.weight_decay, tuple(c.data.crop_scale)) == (5e-4, (0.2, 1.0))
  assert (c.num_epochs, tuple(c.optim.decay_epochs)) == (90, (54,))
  assert get('surgical').surgical.modules == 'last' and get('erm').method == 'finetune'


def test_cnn_gate_trunk_takes_plain_resnet18_weights():
  config = transfer.on_dataset('caltech256_30', 'adafilter_cnn_gate')
  config.model.arch, config.model.width, config.adafilter.gate_width = 'resnet18', 4, 4
  model = methods.get('adafilter').build_model(config, 5, None)
  x = jnp.zeros((1, 32, 32, 3))
  v = tiny.variables(model, x, train=False)
  trunk = tiny.variables(models.backbone('resnet18', None, width=4), x, seed=2, train=False)
  backbone = tiny.variables(models.backbone('resnet18', 5, width=4), x, seed=3, train=False)
  out = pretrained.transfer(backbone, v, parts={'gate/trunk': trunk})
  jax.tree.map(np.testing.assert_array_equal, out['params']['gate']['trunk'], trunk['params'])


@pytest.mark.parametrize('method,block', [('spottune', 'spottune'),
                                          ('spottune_global_k', 'spottune'),
                                          ('spottune_fixed', 'spottune'), ('l2sp', 'l2sp'),
                                          ('lp_ft', 'lp_ft'), ('bss', 'bss'), ('delta', 'delta')])
def test_a_method_without_its_settings_block_fails_before_training(method, block):
  from configs import base
  config = base.get_config()  # no recipe applied: no settings block
  config.method = method
  with pytest.raises(ValueError, match=rf'reads config\.{block}.*configs/transfer\.py:'
                                       rf'dataset=<dataset>,method={method}, which'):
    methods.get(method).build_model(config, 5, None)


def test_overrides_parse_as_main_py_parses_them():
  c = config_files.load('configs/transfer.py:dataset=mit_indoor,method=l2sp', [
      'num_epochs=3', 'optim.decay_epochs=(1, 2)', 'optim.head_lr=0.5', 'pretrained=',
      'l2sp.alpha=1', 'adafilter.gated_bn=False'])
  assert c.name == 'mit_indoor_l2sp' and c.data.name == 'mit_indoor'  # get_config(arg)
  assert c.num_epochs == 3 and tuple(c.optim.decay_epochs) == (1, 2)
  assert c.optim.head_lr == 0.5 and c.pretrained == '' and c.adafilter.gated_bn is False
  assert c.l2sp.alpha == 1.0 and isinstance(c.l2sp.alpha, float)  # the field's type
  with pytest.raises(AttributeError):
    c.new_key = 1  # locked, as main.py's
  again = config_files.override(c, ['seed=4'])
  assert again.seed == 4 and c.seed == 0  # a copy
  with pytest.raises(ValueError, match='conv_imp'):
    config_files.override(c, ['model.conv_imp=mixed'])  # a key the config lacks
  with pytest.raises(ValueError, match='num_epochs=abc'):
    config_files.override(c, ['num_epochs=abc'])
  with pytest.raises(ValueError, match='not key=value'):
    config_files.override(c, ['num_epochs'])
  with pytest.raises(FileNotFoundError, match='configs/transfr.py'):
    config_files.load('configs/transfr.py:dataset=mit_indoor,method=l2sp')


def test_the_package_imports_neither_configs_nor_tests():
  root = os.path.join(os.path.dirname(methods.__file__), '..')
  found = []
  for folder, _, files in os.walk(root):
    for f in files:
      if f.endswith('.py'):
        path = os.path.join(folder, f)
        for node in ast.walk(ast.parse(open(path).read())):
          names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                   [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
          found += [(path, n) for n in names if n.split('.')[0] in ('configs', 'tests')]
  assert not found


def test_the_paper_table_is_the_one_in_docs():
  """adafilter_jax/methods/paper_numbers.py against the tables transcribed in docs/method.md and
  docs/methods.md (Tables 2-4 of the paper)."""
  rows = {'standard fine-tuning': 'finetune', 'fine-tuning half': 'finetune_half',
          'random policy': 'random_policy', 'L2-SP': 'l2sp', 'AdaFilter': 'adafilter',
          'standard BN (Eq. 6)': 'adafilter_standard_bn', 'CNN gate': 'adafilter_cnn_gate'}
  seen = set()
  for doc in ('docs/method.md', 'docs/methods.md'):
    for line in open(doc):
      cells = [c.strip() for c in line.strip().strip('|').split('|')]
      if cells[0] in rows and len(cells) == 8:
        recipe = rows[cells[0]]
        assert [paper_numbers.top1(d, recipe) for d in paper_numbers.DATASETS] == [float(c) for c in cells[1:]]
        seen.add(recipe)
  assert seen == set(paper_numbers.ADAFILTER)


def test_spottune_table2_datasets_carry_their_column_of_the_paper():
  """SpotTune's Table 2 as METHOD.md de-garbles it (CUBS, Cars, Flowers, WikiArt,
  Sketches): each dataset config carries its column for every recipe."""
  spottune = {'cubs': 84.03, 'stanford_cars': 92.40, 'oxford_flowers': 96.34,
              'wikiart': 75.77, 'sketches': 80.20}
  last2 = {'cubs': 80.34, 'stanford_cars': 85.36, 'oxford_flowers': 91.81,
           'wikiart': 70.82, 'sketches': 78.37}
  for dataset in spottune:
    config = transfer.on_dataset(dataset, 'finetune_last2')
    assert config.paper_top1['spottune'] == spottune[dataset]
    assert config.paper_top1['finetune_last2'] == last2[dataset]


def test_later_baselines_carry_their_papers_settings():
  get = lambda name, dataset='cubs': transfer.on_dataset(dataset, name)
  c, base = get('lp_ft'), get('finetune')
  assert (c.lp_ft.lp_epochs, c.lp_ft.lp_lr, tuple(c.lp_ft.lp_decay_epochs)) == (10, 0.01, (6,))
  assert c.num_epochs == base.num_epochs + 10 and c.optim == base.optim
  assert (get('bss').bss.eta, get('bss').bss.k) == (0.001, 1)
  c = get('delta')
  assert (c.delta.alpha, c.delta.beta, c.optim.weight_decay) == (0.01, 0.01, 0.0)
  assert get('delta', 'stanford_dogs').delta.alpha == 0.1  # the official run.sh
  assert (c.delta.probe_epochs, c.delta.probe_lr, c.delta.attention_images) == (10, 0.01, 128)


def test_tllib_table_is_the_one_in_docs():
  """TLlib's sampling-rate numbers in adafilter_jax/methods/paper_numbers.py against the table in
  docs/methods.md (transcribed from TLlib's README)."""
  seen = {}
  for line in open('docs/methods.md'):
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if len(cells) == 6 and cells[0] in paper_numbers.TLLIB:
      seen.setdefault(cells[0], {})[cells[1]] = tuple(float(v) for v in cells[2:])
  assert seen == paper_numbers.TLLIB
  assert paper_numbers.top1('cubs', 'co_tuning', 15) == 57.6 and paper_numbers.top1('cubs', 'co_tuning') is None
  assert paper_numbers.top1('fgvc_aircraft', 'delta', 50) == 71.4 and paper_numbers.top1('cubs', 'bss', 20) is None


@pytest.mark.parametrize('recipe, key, value, accepted', [
    ('bss', 'bss.k', 0, 'an integer >= 1'),
    ('bss', 'bss.eta', -0.1, 'a number >= 0'),
    ('delta', 'delta.alpha', -1.0, 'a number >= 0'),
    ('delta', 'delta.probe_decay_epochs', (11,),
     'increasing epochs in [1, config.delta.probe_epochs=10]'),
    ('lp_ft', 'lp_ft.lp_decay_epochs', (11,),
     'increasing epochs in [1, config.lp_ft.lp_epochs=10]'),
    ('co_tuning', 'co_tuning.trade_off', -2.3, 'a number >= 0'),
    ('co_tuning', 'co_tuning.source_classes', 0, 'an integer >= 1'),
    ('erm', 'data.sample_rate', 0.0, 'a number in (0, 1]'),
])
def test_later_baselines_settings_are_range_checked(recipe, key, value, accepted):
  config = transfer.on_dataset('cubs', recipe)
  config.update_from_flattened_dict({key: value})
  shown = str(tuple(value)) if isinstance(value, tuple) else str(value)
  with pytest.raises(ValueError, match=re.escape(f'config.{key}={shown}: must be {accepted}')):
    checks.check_fields(config)


def test_a_dataset_config_s_own_error_is_one_line_naming_its_file_and_line(tmp_path, capsys,
                                                                           monkeypatch):
  """The grids load configs/transfer.py, which runs the dataset's config file: a name that
  file does not define stops the grid before its first run, naming its file and line (not
  the line of transfer.py that called it)."""
  from adafilter_jax.apps import experiments  # pylint: disable=g-import-not-at-top
  configs = tmp_path / 'configs'
  dataset = configs / 'typo.py'
  configs.mkdir()
  dataset.write_text('def get_config():\n  return base.get_config()\n')
  (configs / 'transfer.py').write_text(  # configs/transfer.py's shape: the dataset by name
      'import importlib\n\n\ndef get_config(arg):\n'
      "  dataset = arg.split('dataset=')[1].split(',')[0]\n"
      '  return importlib.import_module(dataset).get_config()\n')
  monkeypatch.syspath_prepend(str(configs))
  monkeypatch.delitem(sys.modules, 'typo', raising=False)
  code = experiments.main(['--datasets', 'typo', '--methods', 'finetune', '--seeds', '0',
                           '--configs_dir', str(configs), '--root', str(tmp_path / 'runs')])
  err = capsys.readouterr().err
  assert code == 1
  assert f"error: {dataset}, line 2: NameError: name 'base' is not defined\n" in err, err
  assert not (tmp_path / 'runs').exists()


def test_an_unknown_recipe_stops_the_grid_naming_the_known_ones(tmp_path, capsys):
  from adafilter_jax.apps import experiments  # pylint: disable=g-import-not-at-top
  code = experiments.main(['--datasets', 'demo', '--methods', 'l2sq', '--seeds', '0',
                           '--root', str(tmp_path / 'runs')])
  err = capsys.readouterr().err
  assert code == 1 and "unknown recipe 'l2sq'; known: ['adafilter', " in err, err
  assert not (tmp_path / 'runs').exists()


def test_a_config_file_never_sees_the_names_of_the_file_loaded_before(tmp_path):
  """config_flags loads every file as one module name and ran a second file in the first
  one's namespace: a name the second does not define resolved to the first's (the grid
  then failed far later, or ran a recipe with another's imports)."""
  from adafilter_jax.train import config_files  # pylint: disable=g-import-not-at-top
  config_files.load('configs/tiny.py')  # defines `base`
  typo = tmp_path / 'typo.py'
  typo.write_text('def get_config():\n  return base.get_config()\n')
  with pytest.raises(ValueError, match=re.escape(f"{typo}, line 2: NameError: name 'base'")):
    config_files.load(str(typo))


def test_a_family_config_argument_is_key_value_pairs_or_a_lone_first_value():
  from configs import base  # pylint: disable=g-import-not-at-top
  parse = lambda arg: base.parse_arg(arg, dataset='caltech256_30', method='adafilter')
  assert parse(None) == {'dataset': 'caltech256_30', 'method': 'adafilter'}
  assert parse('cubs') == {'dataset': 'cubs', 'method': 'adafilter'}
  assert parse('method=l2sp,dataset=cubs') == {'dataset': 'cubs', 'method': 'l2sp'}
  with pytest.raises(ValueError, match=r"no key 'datset'; give dataset=\.\.\.,method=\.\.\."):
    parse('datset=cubs')


def test_main_py_passes_the_config_argument_to_the_family_file():
  """`python main.py --config configs/transfer.py:dataset=cubs,method=spottune`: absl's
  flag hands the argument to get_config; the config is SpotTune's recipe on CUB-200 with
  SpotTune's Table 2 column (84.03: the published number)."""
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  import main  # pylint: disable=g-import-not-at-top
  with flagsaver.flagsaver():
    command_line.parse_flags(['main.py', '--config', 'configs/transfer.py:dataset=cubs,method=spottune'])
    c = main.FLAGS.config
    assert (c.name, c.method, c.data.name) == ('cubs_spottune', 'spottune', 'cubs')
    assert (c.batch_size, c.num_epochs, c.spottune.tau) == (32, 40, 5.0)
    assert c.paper_top1.spottune == 84.03


def test_the_table2_files_run_the_papers_adafilter_recipe():
  """The design card's `python main.py --config configs/caltech256_30.py` (and the other
  Table-2 files): the grid's AdaFilter recipe on that dataset, only the name shorter."""
  for dataset in paper_numbers.DATASETS:
    own = config_files.load(f'configs/{dataset}.py').to_dict()
    grid = config_files.load(f'configs/transfer.py:dataset={dataset},method=adafilter').to_dict()
    assert own.pop('name') == dataset and grid.pop('name') == f'{dataset}_adafilter'
    assert own == grid and own['method'] == 'adafilter'


def test_every_recipe_the_papers_name_is_registered():
  named = {*paper_numbers.ADAFILTER, *paper_numbers.SPOTTUNE, *paper_numbers.TLLIB}
  assert named <= set(methods.recipe_names())


def test_an_unknown_dataset_is_named():
  from configs import transfer  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=r"unknown dataset 'cubz': neither a config configs/cubz\.py"):
    transfer.get_config('dataset=cubz,method=finetune')
