"""BSS and DELTA under pmap: the loss of the global batch, whose rows are spread over
the devices (2 fake CPU devices, in a subprocess: XLA_FLAGS precede the jax import)."""
from tests import fake_devices


def test_pmap_feature_losses_and_bss_step_are_the_global_batch_ones():
  """Each device with half the batch: the losses and their gradients (the train step's
  pmean of per-device gradients) equal one device's on the whole batch (BSS: the
  spectrum of the gathered features; DELTA: the sum over the global batch), and so does
  a real BSS train step of a tiny ResNet."""
  report = fake_devices.run_check('tests.methods.feature_loss_pmap_check', timeout=600)
  for name in ('bss', 'delta'):
    toy = report[name]
    assert toy['value'] < 1e-6 * toy['value_scale'], (name, toy)
    assert toy['grad'] < 1e-5 * toy['grad_scale'], (name, toy)
  assert report['step'] < 1e-5
  assert report['step_penalty'] > 1e-3  # the step does carry the penalty
  assert report['step_penalty_diff'] < 1e-5 * report['step_penalty']  # loss - ce, float32
