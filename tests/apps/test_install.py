"""`pip install .` and `pip install -e .` into a fresh venv: the console commands start from
another directory, and the installed package (configs and main included) is the one used."""
import os
import subprocess
import sys
import sysconfig

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# command -> a flag its --help lists (absl's --help exits with 1, argparse's with 0)
COMMANDS = {'adafilter-train': '--mode', 'adafilter-evaluate': '--checkpoint',
            'adafilter-predict': '--top_k', 'adafilter-export': '--form',
            'adafilter-convert': '--download', 'adafilter-report': '--out'}


def _venv(path):
  subprocess.run([sys.executable, '-m', 'venv', str(path)], check=True, timeout=120)
  # The runtime dependencies are installed here already: the venv sees them (a .pth file)
  # instead of downloading them again; only the build backend comes from the index.
  site = subprocess.run([str(path / 'bin' / 'python'), '-c',
                         'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                        capture_output=True, text=True, check=True).stdout.strip()
  with open(os.path.join(site, 'deps.pth'), 'w') as f:
    # addsitedir, not a bare path: this interpreter's own .pth files count too
    f.write(f'import site; site.addsitedir({sysconfig.get_paths()["purelib"]!r})\n')


def _pip_install(venv, *args):
  out = subprocess.run([str(venv / 'bin' / 'pip'), 'install', '-q', '--no-deps', *args],
                       capture_output=True, text=True, timeout=600, cwd=str(venv.parent))
  if out.returncode and 'setuptools' in out.stderr and 'No matching distribution' in out.stderr:
    pytest.skip('no package index to fetch the build backend (setuptools) from')
  assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize('editable', [False, True])
def test_install_and_commands_start_elsewhere(tmp_path, editable):
  venv = tmp_path / 'venv'
  _venv(venv)
  _pip_install(venv, *(['-e', REPO] if editable else [REPO]))
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  # Every command once; the editable install (same entry points) one of them.
  for command, flag in list(COMMANDS.items())[:1 if editable else None]:
    out = subprocess.run([str(venv / 'bin' / command), '--help'], capture_output=True,
                         text=True, timeout=120, cwd=str(elsewhere), env=env)
    assert out.returncode in (0, 1) and flag in out.stdout, (command, out.stderr[-2000:])
  if not editable:  # the README's config paths, outside the checkout: the installed files
    out = subprocess.run([str(venv / 'bin' / 'adafilter-train'), '--config', 'configs/tiny.py',
                          '--mode=eval', '--workdir', 'nowhere'], capture_output=True,
                         text=True, timeout=300, cwd=str(elsewhere), env=env)
    assert 'no such file' not in out.stderr and 'using the installed' in out.stderr, (
        out.stderr[-2000:])
  where = subprocess.run(
      [str(venv / 'bin' / 'python'), '-c', 'import adafilter_jax, configs.base, main; '
       'print(adafilter_jax.__file__); print(configs.base.get_config().method)'],
      capture_output=True, text=True, timeout=120, cwd=str(elsewhere), env=env)
  assert where.returncode == 0, where.stderr[-2000:]
  path, method = where.stdout.split()
  assert method == 'adafilter'
  # A regular install runs its own copy; an editable one this checkout.
  assert path.startswith(REPO) == editable, path


def test_a_config_path_outside_the_checkout_is_the_installed_file(tmp_path, monkeypatch,
                                                                  capsys):
  """`adafilter-train --config configs/demo.py` outside a checkout said `no such file`
  though `pip install .` installs configs/ (here: the package on sys.path, not in the
  current directory, as an install puts it)."""
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  import main  # pylint: disable=g-import-not-at-top
  from adafilter_jax.train import command_line, config_files  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  installed = os.path.join(REPO, 'configs', 'transfer.py')
  assert config_files.find('configs/transfer.py') == installed
  assert config_files.find('configs/nope.py') == 'configs/nope.py'  # reported as missing
  with flagsaver.flagsaver():
    command_line.parse_flags(['main.py', '--config',
                              'configs/transfer.py:dataset=caltech256_30,method=l2sp'])
    assert main.FLAGS.config.method == 'l2sp'
  assert (f'--config configs/transfer.py: not in this directory; using the installed '
          f'{installed}:dataset=caltech256_30,method=l2sp') in capsys.readouterr().err
