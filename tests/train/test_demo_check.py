"""The CI check of the README's demo numbers, on fake README/output pairs."""
import os

from adafilter_jax.apps.demos import check as demo_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

README = '''# x
text
```
source task (digits_source, from scratch): eval top-1 99.44%
target task (digits_target), from the source weights:
  adafilter    eval top-1 76.24%  (best 77.90% at epoch 25)
  finetune     eval top-1 79.43%  (best 80.85% at epoch 22)
```
'''


def _output(source=99.44, ada=76.24, ada_best=77.90, ft=79.43, ft_best=80.85):
  return (f'source task (digits_source, from scratch): eval top-1 {source:.2f}%\n'
          'target task (digits_target), from the source weights:\n'
          f'  adafilter    eval top-1 {ada:.2f}%  (best {ada_best:.2f}% at epoch 25)\n'
          f'  finetune     eval top-1 {ft:.2f}%  (best {ft_best:.2f}% at epoch 9)\n'
          'report: runs/demo/report/report.md\n')


def test_parse_reads_every_stage():
  assert demo_check.parse(_output()) == {'source': (99.44,), 'adafilter': (76.24, 77.90, 25.0),
                                         'finetune': (79.43, 80.85, 9.0)}


def test_equal_and_within_tolerance_pass_and_epochs_are_not_compared():
  assert demo_check.check(README, _output(), 1.5) == []
  assert demo_check.check(README, _output(ada=77.70, ft_best=79.40), 1.5) == []


def test_outside_tolerance_names_the_method_and_both_numbers():
  problems = demo_check.check(README, _output(ada=74.70, source=97.0), 1.5)
  assert len(problems) == 2, problems
  assert any(p.startswith('adafilter eval top-1: README 76.24%, demo printed 74.70%')
             for p in problems), problems
  assert any(p.startswith('source eval top-1') for p in problems), problems


def test_a_method_on_one_side_only_fails():
  output = _output().replace('  finetune ', '  l2sp     ')
  problems = demo_check.check(README, output, 1.5)
  assert 'finetune: the demo did not print it' in problems
  assert 'l2sp: not in the README' in problems


def test_the_repository_readme_has_a_block_the_check_reads():
  with open(os.path.join(ROOT, 'README.md')) as f:
    documented = demo_check.parse(demo_check.readme_block(f.read()))
  assert set(documented) == {'source', 'adafilter', 'finetune'}
