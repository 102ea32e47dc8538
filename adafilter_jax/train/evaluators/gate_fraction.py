"""The fine-tuned share per gated layer and per stage (``gate_fraction``,
``gate_fraction_per_stage``), and the epoch's per-image gate statistics in
``gate_stats.npz`` ({} and no file for a plain model)."""
from adafilter_jax.train import metrics as metrics_lib


class Evaluator:

  def __init__(self, ctx):
    self.ctx = ctx

  def record(self, outputs, epoch: int) -> dict:
    ctx = self.ctx
    fraction = metrics_lib.gate_fraction(outputs, ctx.gate_layers)
    ctx.writer.gate_stats(outputs, ctx.gate_layers, epoch, ctx.gate_channels)
    return {'gate_fraction': fraction,
            'gate_fraction_per_stage': metrics_lib.stage_fraction(fraction, ctx.gate_widths)}

