"""Top-1 and mean-class accuracy: ``eval_top1`` (what chooses the best checkpoint) and
``eval_mean_class_acc``."""
from adafilter_jax.train import metrics as metrics_lib


class Evaluator:

  def __init__(self, ctx):
    self.num_classes = ctx.num_classes

  def record(self, outputs, epoch: int) -> dict:
    del epoch
    top1, mean_class = metrics_lib.accuracies(outputs['pred'], outputs['label'],
                                              self.num_classes)
    return {'eval_top1': top1, 'eval_mean_class_acc': mean_class}
