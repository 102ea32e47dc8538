"""Keeps the README's demo numbers true: compares what the demo printed with them.

  python main.py --config configs/demo.py | tee demo.out
  python -m adafilter_jax.apps.demos.check --readme README.md --output demo.out

Reads every `... eval top-1 X%  (best Y% at epoch E)` line of the demo's output and of
the README's demo block (the fenced block holding `source task (`), and fails with a
table of the differences when a stage or method is missing on one side or an accuracy
differs by more than `--tolerance` points. Epochs are shown, not compared: with equal
accuracies a different best epoch is noise.

Why 1.5 points by default: on one machine the demo is deterministic (two runs print the
same digits), but XLA compiles for the CPU it runs on, and another instruction set
rounds sums in another order; 50 training images and 30 epochs turn such differences
into a few of the 846 eval images changing class (one image = 0.12 points).
"""
import re
from typing import Dict, Tuple

from absl import app
from absl import flags

FLAGS = flags.FLAGS

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


def compare(documented: dict, printed: dict, tolerance: float) -> list:
  """Lines describing each disagreement; empty when the README is true."""
  problems = []
  for name in sorted(set(documented) | set(printed)):
    if name not in printed or name not in documented:
      where = 'the demo did not print it' if name not in printed else 'not in the README'
      problems.append(f'{name}: {where}')
      continue
    doc, got = documented[name], printed[name]
    # (top-1, best); the epoch (third) is informative only.
    for what, d, g in zip(('eval top-1', 'best'), doc[:2], got[:2]):
      if abs(d - g) > tolerance:
        problems.append(f'{name} {what}: README {d:.2f}%, demo printed {g:.2f}% '
                        f'(|diff| {abs(d - g):.2f} > {tolerance} points)')
  return problems


def check(readme_text: str, output_text: str, tolerance: float) -> list:
  return compare(parse(readme_block(readme_text)), parse(output_text), tolerance)


def main(argv):
  del argv
  with open(FLAGS.readme) as f:
    readme_text = f.read()
  with open(FLAGS.output) as f:
    output_text = f.read()
  problems = check(readme_text, output_text, FLAGS.tolerance)
  if problems:
    print('The README\'s demo numbers are stale (update its Quick start block):')
    print('\n'.join(f'  {p}' for p in problems))
    return 1
  print(f'README demo numbers agree with the demo within {FLAGS.tolerance} points.')
  return 0


if __name__ == '__main__':
  flags.DEFINE_string('readme', 'README.md', 'The README holding the demo block.')
  flags.DEFINE_string('output', None, 'What `python main.py --config configs/demo.py` printed.')
  flags.DEFINE_float('tolerance', 1.5, 'Largest accepted difference, in points.')
  flags.mark_flags_as_required(['output'])
  app.run(main)
