"""A warning for the one slip that costs days: a full-size run on JAX's CPU backend.

A GPU machine whose JAX is the CPU build (requirements.txt installs it; the CUDA wheels
are a separate install, docs/after_training.md) trains anyway, at a few images per
second. At the start such a run says so; after its first steps it says how long the
whole run would take at that pace.
"""
import time

from absl import logging
import jax

from adafilter_jax.train import actions

FULL_WIDTH = 64    # torchvision's stem width: the paper's ResNet-50, not a test model
FULL_SIZE = 224    # the paper's crop
PROBE_STEPS = 5    # timed after the first (compiling) step


def _hms(seconds: float) -> str:
  s = int(seconds)
  return f'{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}'


class CpuWarning(actions.Action):
  """A periodic action (actions.py): `after(step, outputs)` after every train step
  blocks on `outputs` twice only. `total_steps`: the run's, from step 0."""

  def __init__(self, config, total_steps: int, backend: str = ''):
    backend = backend or jax.default_backend()
    self.enabled = (backend == 'cpu' and config.model.width >= FULL_WIDTH
                    and config.data.image_size >= FULL_SIZE)
    self.total_steps, self.t0, self.n = total_steps, None, 0
    if self.enabled:
      logging.warning(
          'Training a full-size %s at %d px on the CPU backend (jax.devices(): %s). On a GPU '
          'machine install JAX\'s CUDA wheels: pip install -U "jax[cuda12]>=0.10,<0.12", '
          'check: python -c "import jax; print(jax.devices())" (docs/after_training.md). '
          'The estimated time follows after %d steps.', config.model.arch,
          config.data.image_size, jax.devices(), PROBE_STEPS + 1)

  def after(self, step: int, outputs):
    if not self.enabled:
      return
    if self.t0 is None:  # the first step compiled: time the ones after it
      jax.block_until_ready(outputs)
      self.t0 = time.time()
      return
    self.n += 1
    if self.n < PROBE_STEPS:
      return
    jax.block_until_ready(outputs)
    per_step = (time.time() - self.t0) / self.n
    logging.warning('On the CPU backend: %.1f s per step, about %s for the %d steps left '
                    '(%s for the whole run).', per_step,
                    _hms(per_step * (self.total_steps - step)), self.total_steps - step,
                    _hms(per_step * self.total_steps))
    self.enabled = False
