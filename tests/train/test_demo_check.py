"""The CI check of the README's demo numbers, on fake README/output pairs."""
import os

from adafilter_jax.apps.demos import check as demo_check
from adafilter_jax.apps.demos import spread

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


TOLERANCE = {'source': (1.5,), 'adafilter': (1.5, 1.5), 'finetune': (1.5, 1.5)}


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
  assert demo_check.check(README, _output(), TOLERANCE) == []
  assert demo_check.check(README, _output(ada=77.70, ft_best=79.40), TOLERANCE) == []


def test_outside_tolerance_names_the_method_and_both_numbers():
  problems = demo_check.check(README, _output(ada=74.70, source=97.0), TOLERANCE)
  assert len(problems) == 2, problems
  assert any(p.startswith('adafilter eval top-1: README 76.24%, demo printed 74.70%')
             for p in problems), problems
  assert any(p.startswith('source eval top-1') for p in problems), problems


def test_a_method_on_one_side_only_fails():
  output = _output().replace('  finetune ', '  l2sp     ')
  problems = demo_check.check(README, output, TOLERANCE)
  assert 'finetune: the demo did not print it' in problems
  assert 'l2sp: not in the README' in problems


def test_the_repository_readme_has_a_block_the_check_reads():
  with open(os.path.join(ROOT, 'README.md')) as f:
    documented = demo_check.parse(demo_check.readme_block(f.read()))
  assert set(documented) == {'source', 'adafilter', 'finetune'}


# What `python main.py --config configs/demo.py` printed on a 2-core Intel Xeon (issue 32),
# three identical runs, where the README's numbers come from an AMD EPYC.
INTEL_XEON = (
    'source task (digits_source, from scratch): eval top-1 99.44%\n'
    'target task (digits_target), from the source weights:\n'
    '  adafilter    eval top-1 69.39%  (best 73.05% at epoch 19)\n'
    '  finetune     eval top-1 72.46%  (best 73.76% at epoch 21)\n')


def _readme():
  with open(os.path.join(ROOT, 'README.md')) as f:
    return f.read()


def test_the_repository_check_accepts_what_an_intel_xeon_printed():
  assert demo_check.check(_readme(), INTEL_XEON) == []


def test_the_repository_check_rejects_a_model_that_learned_nothing_or_half():
  # A broken target stage: at chance (5 classes), or trained to half of what it reaches.
  documented = demo_check.parse(demo_check.readme_block(_readme()))
  for broken in (20.0, documented['finetune'][0] - 15):
    output = INTEL_XEON.replace('72.46%', f'{broken:.2f}%')
    problems = demo_check.check(_readme(), output)
    assert any(p.startswith('finetune eval top-1') for p in problems), (broken, problems)
  assert demo_check.check(_readme(), INTEL_XEON.replace('99.44%', '90.00%'))


def test_tolerance_is_three_sample_stds_with_a_floor():
  runs = [{'source': (99.4,), 'ada': (70.0, 71.0)}, {'source': (99.4,), 'ada': (72.0, 71.2)},
          {'source': (99.5,), 'ada': (74.0, 71.4)}]
  # ada top-1: values 70, 72, 74: sample std 2 -> 6; best: std 0.2 -> 0.6, under the floor.
  assert spread.tolerances(runs) == {'source': [spread.FLOOR], 'ada': [6.0, spread.FLOOR]}


def test_a_stage_without_a_measured_tolerance_fails():
  problems = demo_check.check(README, _output(), {'source': (1.5,), 'adafilter': (1.5, 1.5)})
  assert problems == ['finetune: no measured tolerance (rerun apps.demos.spread)']
