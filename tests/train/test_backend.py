"""A full-size run on the CPU backend warns at start and, after its first steps, with the
time the run would take at that pace; a test-size run or a GPU run says nothing."""
import logging

import jax.numpy as jnp

from adafilter_jax.train import cpu_warning
from tests import tiny_config


class _Clock:
  def __init__(self):
    self.now = 1000.0

  def __call__(self):
    return self.now


def _full_size():
  c = tiny_config.config()
  c.model.arch, c.model.width, c.data.image_size = 'resnet50', 64, 224
  return c


def test_cpu_full_size_run_warns_with_the_estimate(monkeypatch, caplog):
  clock = _Clock()
  monkeypatch.setattr(cpu_warning.time, 'time', clock)
  caplog.set_level(logging.WARNING)
  w = cpu_warning.CpuWarning(_full_size(), total_steps=1000, backend='cpu')
  assert 'full-size resnet50 at 224 px on the CPU backend' in caplog.text
  assert 'pip install -U "jax[cuda12]' in caplog.text
  state = jnp.zeros(3)
  w.after(1, state)          # compiled: the clock starts here
  for step in range(2, 2 + cpu_warning.PROBE_STEPS):
    clock.now += 2.5        # 2.5 s a step
    w.after(step, state)
  # 5 timed steps of 2.5 s; 1000 - 6 = 994 steps left: 2485 s = 0:41:25; whole run 0:41:40
  assert ('2.5 s per step, about 0:41:25 for the 994 steps left (0:41:40 for the whole run)'
          in caplog.text)
  n = len(caplog.records)
  w.after(100, state)
  assert len(caplog.records) == n  # once


def test_small_or_gpu_runs_say_nothing(caplog):
  caplog.set_level(logging.WARNING)
  cpu_warning.CpuWarning(tiny_config.config(), 1000, backend='cpu').after(1, None)
  cpu_warning.CpuWarning(_full_size(), 1000, backend='gpu').after(1, None)
  assert not caplog.records
