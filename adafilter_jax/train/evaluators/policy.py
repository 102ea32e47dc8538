"""The gate's policy diagnostics (train/policy.py) for a gated model: every record's
``policy``; the gate as initialised, evaluated once before the first step and kept in
the workdir (metrics.POLICY_INIT), so each evaluation says how many decisions training
changed; in the summary, the last diagnostics, the initial gate's, and the random
policy's expected values on the same shapes (policy.bernoulli_reference)."""
import numpy as np

from adafilter_jax.train import keys
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import policy as policy_lib


class Evaluator:

  def __init__(self, ctx):
    self.ctx = ctx
    # A run resumed from before it was kept has none: its start is gone.
    self.initial = metrics_lib.read_initial_policy(ctx.workdir) if ctx.gate_layers else None

  def start(self, evaluate):
    """`evaluate(key)`: the model as initialised, on the eval images (the run's first
    start only: a resumed run keeps what its first start saved)."""
    ctx = self.ctx
    if not ctx.gate_layers or self.initial is not None:
      return
    outputs = evaluate(keys.initial_policy(ctx.config.seed))
    outputs = {k: outputs[k] for k in ('decisions', 'index', 'label')}
    diagnostics = policy_lib.from_outputs(outputs, ctx.gate_layers, ctx.gate_channels,
                                          ctx.num_classes, outputs)
    ctx.writer.save_initial_policy(outputs, diagnostics)
    self.initial = {'outputs': outputs, 'diagnostics': diagnostics}

  def record(self, outputs, epoch: int) -> dict:
    del epoch
    ctx = self.ctx
    if not ctx.gate_layers:
      return {}
    initial = self.initial and self.initial['outputs']
    return {'policy': policy_lib.from_outputs(outputs, ctx.gate_layers, ctx.gate_channels,
                                              ctx.num_classes, initial)}

  def summary(self, last: dict) -> dict:
    if 'policy' not in last:
      return {}
    if self.initial is None:
      return {'policy': last['policy']}
    ctx, labels = self.ctx, self.initial['outputs']['label']
    return {'policy': last['policy'], 'policy_init': self.initial['diagnostics'],
            'policy_reference': policy_lib.bernoulli_reference(
                ctx.gate_layers, ctx.gate_channels, len(labels), len(np.unique(labels)),
                ctx.config.adafilter.random_p)}
