"""The commands README.md and docs/*.md tell a user to run, read out of the files: every
line of a fenced shell block (a `$ ` prompt, `\\` continuations and `&&` chains taken as
a shell takes them, comments dropped) and every inline `python ...` / `adafilter-...`
code span. tests/test_doc_commands.py checks each against the code."""
import dataclasses
import pathlib
import re
import shlex
from typing import List

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
_FENCE = re.compile(r'^```(\w*)\s*$')
_INLINE = re.compile(r'`((?:\S*/)?python3?\s[^`]*|(?:\S*/)?python3?|adafilter-[^`]*)`', re.S)
_ENV = re.compile(r'^([A-Z_]+=\S*\s+)*')


@dataclasses.dataclass
class Command:
  where: str   # file:line
  text: str    # as written (continuations joined)

  @property
  def words(self) -> List[str]:
    return shlex.split(self.text)


def _ours(line: str) -> bool:
  """A command of ours: after any VAR=value, python (any interpreter's path: the test
  asks for `python`), pip or a console command."""
  first = _ENV.sub('', line).split(' ')[0]
  return first.startswith(('adafilter-', 'pip')) or re.fullmatch(r'(\S*/)?python3?', first)


def _split_chain(line: str) -> List[str]:
  """`a && b`: both commands; a comment after `#` dropped."""
  line = re.sub(r'(^|\s)#.*$', '', line).strip()
  return [part.strip() for part in line.split('&&') if part.strip()]


def fenced(path: pathlib.Path) -> List[Command]:
  out, lang, lines, start = [], None, path.read_text().splitlines(), 0
  i = 0
  while i < len(lines):
    m = _FENCE.match(lines[i])
    if m and lang is None:
      lang, i = m.group(1) or 'text', i + 1
      continue
    if m:
      lang, i = None, i + 1
      continue
    if lang in ('bash', 'sh', 'text', 'console'):
      start, line = i, lines[i]
      while line.rstrip().endswith('\\') and i + 1 < len(lines):
        i += 1
        line = line.rstrip()[:-1] + ' ' + lines[i].strip()
      line = line.strip()
      if line.startswith('$ '):
        line = line[2:]
      for part in _split_chain(line):
        if _ours(part):
          out.append(Command(f'{path.name}:{start + 1}', part))
    i += 1
  return out


def inline(path: pathlib.Path) -> List[Command]:
  text = path.read_text()
  # Fenced blocks are read above; here only the prose between them.
  prose = re.sub(r'^```.*?^```', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S | re.M)
  out = []
  for m in _INLINE.finditer(prose):
    line = prose.count('\n', 0, m.start()) + 1
    out.append(Command(f'{path.name}:{line}', ' '.join(m.group(1).split())))
  return out


def commands() -> List[Command]:
  return [c for f in FILES for c in fenced(f) + inline(f)]


if __name__ == '__main__':
  for c in commands():
    print(f'{c.where:28s} {c.text}')
