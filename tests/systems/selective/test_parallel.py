"""The joint steps on train/parallel.py: pmap over 2 devices and jit over a 2-device mesh
equal one device, after three real micro-steps (an accumulated update and half of the
next), on params, BN statistics, metrics and the padded prediction over a split.

XLA_FLAGS must be set before jax is imported, so the check runs in a subprocess.
Tolerance: 1e-5 absolute (float32 reductions in another order).
"""

from tests import fake_devices

TOL = 1e-5


def test_pmap_and_jit_joint_steps_equal_one_device():
  report = fake_devices.run_check('tests.systems.selective.parallel_check')
  assert report['moved'] > 1e-3, report  # the update did change the params
  assert report['probs_shape'] == [7, 3], report
  assert report['pmap'] < TOL, report
  assert report['jit'] < TOL, report
  assert report['odd_batch_error'] == ('config.selective.target_batch=3 is not divisible by '
                                       'the 2 devices.'), report
