"""End to end: the experiments grid on two Decathlon-shaped fake domains (prepared by
the catalog builder through the TF-free shim), two methods, the real training loop;
it writes the Table-3-style table with the decathlon score."""
import json
import os

from adafilter_jax.systems import decathlon
from adafilter_jax.apps import experiments
from tests.data import catalog_fakes


def test_grid_writes_the_decathlon_table(tmp_path):
  data_dir = str(tmp_path / 'tfds')
  for domain in ('aircraft', 'cifar100'):  # both 100 classes: the programs compile once
    fake = str(tmp_path / domain)
    catalog_fakes.decathlon(fake, domain, train=tuple(range(1, 9)), val=tuple(range(9, 13)),
                            test=(13,), extra=())
    catalog_fakes.prepare(f'visual_domain_decathlon/{domain}', data_dir, extract=[fake, fake])
  root = str(tmp_path / 'runs')
  overrides = ['num_epochs=1', 'model.width=4', 'data.image_size=16', 'data.resize_size=16',
               f'data.data_dir={data_dir}', 'pretrained=', 'batch_size=4',
               'eval_batch_size=8', 'optim.decay_epochs=(1,)', 'progress_bar=False']
  assert experiments.main(['--datasets', 'decathlon.aircraft,decathlon.cifar100',
                           '--methods', 'finetune,feature_extractor', '--seeds', '0',
                           '--root', root] + sum([['--set', o] for o in overrides], [])) == 0
  with open(os.path.join(root, 'decathlon.md')) as f:
    md = f.read()
  for method in ('finetune', 'feature_extractor'):
    top1 = {}
    for domain in ('aircraft', 'cifar100'):
      with open(os.path.join(root, f'decathlon.{domain}', method, 'seed_0',
                             'summary.json')) as f:
        top1[domain] = 100 * json.load(f)['final_eval_top1']
    # S from the runs' own accuracies, by the formula (a run this short scores ~0)
    s = sum(1000 * max(0, 2 * (100 - decathlon.BASELINE_TOP1[d]) - (100 - a))**2
            / (2 * (100 - decathlon.BASELINE_TOP1[d]))**2 for d, a in top1.items())
    row = (f'| {method} | — | {top1["aircraft"]:.2f} | {top1["cifar100"]:.2f} | '
           + '— | ' * 7 + f'{s:.0f} (8 missing) |')
    assert row in md, (row, md)
  assert '| SpotTune (11x) |' in md and '3612 |' in md
