"""Keeps the README's demo numbers true: compares what the demo printed with them.

  python main.py --config configs/demo.py | tee demo.out
  python -m adafilter_jax.apps.demos.check --readme README.md --output demo.out

Reads every `... eval top-1 X%  (best Y% at epoch E)` line of the demo's output and of
the README's demo block (the fenced block holding `source task (`), and fails with a
table of the differences when a stage or method is missing on one side or an accuracy
differs from the README's by more than its tolerance. Epochs are shown, not compared:
with equal accuracies a different best epoch is noise.

The tolerances are measured, per printed number (`demo_spread.json`, written by
`python -m adafilter_jax.apps.demos.spread`): on one machine the demo is deterministic,
but another CPU rounds XLA's sums in another order, and 50 training images turn that
into another trajectory (seed 0's fine-tuning: 76.36 % on an AMD EPYC, 72.46 % on an
Intel Xeon). The spread command measures how far the numbers move under such rounding
changes on one machine; a tolerance is three standard deviations of that spread.
"""
import json
import os
import re
from typing import Dict, Optional, Tuple

from absl import app
from absl import flags

FLAGS = flags.FLAGS
SPREAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'demo_spread.json')

LINE = re.compile(r'^\s*(source task|\S+)\b.*?eval top-1 ([\d.]+)%'
                  r'(?:\s+\(best ([\d.]+)% at epoch (\d+)\))?')


def parse(text: str) -> Dict[str, Tuple[float, ...]]:
  """stage or method -> (top-1 %, best %, best epoch) (the source stage: (top-1 %,))."""
  found = {}
  for line in text.splitlines():
    m = LINE.match(line)
    if m:
      name = 'source' if m.group(1) == 'source task' else m.group(1)
      found[name] = tuple(float(g) for g in m.groups()[1:] if g is not None)
  return found


def readme_block(readme: str) -> str:
  """The README's fenced block that shows the demo's output."""
  for block in readme.split('```')[1::2]:
    if 'source task (' in block:
      return block
  raise ValueError('no fenced block with the demo\'s output ("source task (") in the README')


def load_tolerances(path: str = SPREAD) -> Dict[str, Tuple[float, ...]]:
  """stage or method -> (tolerance of eval top-1, of best), in points (spread.py)."""
  with open(path) as f:
    return {name: tuple(t) for name, t in json.load(f)['tolerance'].items()}


def compare(documented: dict, printed: dict, tolerance: Dict[str, Tuple[float, ...]]) -> list:
  """Lines describing each disagreement; empty when the README is true."""
  problems = []
  for name in sorted(set(documented) | set(printed)):
    if name not in printed or name not in documented:
      where = 'the demo did not print it' if name not in printed else 'not in the README'
      problems.append(f'{name}: {where}')
      continue
    doc, got = documented[name], printed[name]
    # (top-1, best); the epoch (third) is informative only.
    if name not in tolerance:
      problems.append(f'{name}: no measured tolerance (rerun apps.demos.spread)')
      continue
    for what, d, g, t in zip(('eval top-1', 'best'), doc[:2], got[:2], tolerance[name]):
      if abs(d - g) > t:
        problems.append(f'{name} {what}: README {d:.2f}%, demo printed {g:.2f}% '
                        f'(|diff| {abs(d - g):.2f} > {t} points)')
  return problems


def check(readme_text: str, output_text: str,
          tolerance: Optional[Dict[str, Tuple[float, ...]]] = None) -> list:
  return compare(parse(readme_block(readme_text)), parse(output_text),
                 load_tolerances() if tolerance is None else tolerance)


def main(argv):
  del argv
  with open(FLAGS.readme) as f:
    readme_text = f.read()
  with open(FLAGS.output) as f:
    output_text = f.read()
  tolerance = load_tolerances(FLAGS.spread)
  problems = check(readme_text, output_text, tolerance)
  if problems:
    print('The README\'s demo numbers are stale (update its Quick start block):')
    print('\n'.join(f'  {p}' for p in problems))
    return 1
  print(f'README demo numbers agree with the demo within the measured tolerances '
        f'({FLAGS.spread}: {tolerance}).')
  return 0


if __name__ == '__main__':
  flags.DEFINE_string('readme', 'README.md', 'The README holding the demo block.')
  flags.DEFINE_string('output', None, 'What `python main.py --config configs/demo.py` printed.')
  flags.DEFINE_string('spread', SPREAD, 'The measured tolerances (apps.demos.spread).')
  flags.mark_flags_as_required(['output'])
  app.run(main)
