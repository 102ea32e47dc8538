"""The held-out test: when the checkpoint is chosen on images held out of the train
split (``config.data.val_fraction``), the eval split once, after training, with the
chosen checkpoint (the caller's `test_pass`: inference/evaluate.py's `test_once`);
its metrics go into the summary."""


class Evaluator:

  def __init__(self, ctx):
    self.ctx = ctx

  def record(self, outputs, epoch: int) -> dict:
    del outputs, epoch
    return {}

  def summary(self, last: dict) -> dict:
    del last
    ctx = self.ctx
    if ctx.test_pass is None or not ctx.config.data.val_fraction:
      return {}
    return ctx.test_pass(ctx.config, ctx.workdir)
