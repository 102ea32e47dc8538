"""Where a run's numbers go besides metrics.jsonl: TensorBoard events (read back with
TensorBoard's own event reader), Weights & Biases (a fake module, no network), and a
jax.profiler trace of chosen steps that leaves training unchanged."""
import glob
import gzip
import io
import json
import os
import sys
import types

import jax
import numpy as np
from PIL import Image
import pytest
from tensorboard.backend.event_processing import event_accumulator

from adafilter_jax.apps import jobs
from adafilter_jax.train import metrics
from adafilter_jax.train.loop import train_and_evaluate
from tests.train import runs
from tests import tiny_config


class FakeWandb(types.ModuleType):
  """The part of wandb's API the writer uses, recording every call."""

  def __init__(self):
    super().__init__('wandb')
    self.inits, self.logs, self.finished = [], [], 0
    fake = self

    class Run:
      def log(self, values, step):
        fake.logs.append((step, values))

      def finish(self):
        fake.finished += 1

    self._run = Run()

  def init(self, **kwargs):
    self.inits.append(kwargs)
    return self._run

  class Image:
    def __init__(self, array):
      self.array = np.asarray(array)


def _events(workdir):
  acc = event_accumulator.EventAccumulator(
      workdir, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0})
  acc.Reload()
  return acc


def _stage_fraction_from_gate_stats(workdir, params):
  """layer4's fine-tuned share from gate_stats.npz, each layer weighted by its filters
  (counted on the kernel of its fine-tuned conv)."""
  stats = np.load(os.path.join(workdir, metrics.GATE_STATS))
  fractions = stats['per_image_layer_fraction'].astype(np.float64).mean(0)
  widths = []
  for layer in stats['layers']:
    block, unit = str(layer).split('/')
    widths.append(params[block][unit]['conv']['kernel'].shape[-1])
  return float(np.dot(fractions, widths) / np.sum(widths))


@pytest.fixture(scope='module')
def logged_run(tmp_path_factory):
  """Two epochs of the tiny AdaFilter with the report, TensorBoard and a fake W&B."""
  fake = FakeWandb()
  saved = sys.modules.get('wandb')
  sys.modules['wandb'] = fake
  try:
    workdir = str(tmp_path_factory.mktemp('logged') / 'run')
    state = train_and_evaluate(tiny_config.config('adafilter', epochs=2, wandb='my-project'),
                               workdir, report=jobs.run_report)
  finally:
    if saved is None:
      del sys.modules['wandb']
    else:
      sys.modules['wandb'] = saved
  return workdir, state, fake


def test_tensorboard_events_equal_metrics_jsonl(logged_run):
  workdir, state, _ = logged_run
  records, events = runs.records(workdir), _events(workdir)
  assert [r['step'] for r in records] == [5, 10]
  expected = {}
  for r in records:
    for tag, value in metrics.scalars(r).items():
      expected.setdefault(tag, []).append((r['step'], np.float32(value)))
  # Every scalar of metrics.jsonl, nothing else, each at its record's step (TensorBoard
  # stores float32).
  assert sorted(events.Tags()['scalars']) == sorted(expected)
  for tag, values in expected.items():
    assert [(e.step, np.float32(e.value)) for e in events.Scalars(tag)] == values, tag
  for group in ('network', 'head', 'gate'):
    assert f'lr/{group}' in expected
  # The per-stage share is the filter-weighted mean of the layers' (from gate_stats.npz).
  assert records[-1]['gate_fraction_per_stage'].keys() == {'layer4'}
  assert abs(records[-1]['gate_fraction_per_stage']['layer4']
             - _stage_fraction_from_gate_stats(workdir, state.params)) < 1e-6
  assert events.Scalars('gate_fraction_per_stage/layer4')[-1].step == 10


def test_report_figures_are_images_in_the_events(logged_run):
  workdir, _, _ = logged_run
  pngs = sorted(glob.glob(os.path.join(workdir, 'report', '*.png')))
  # accuracy, per-layer, histogram, extremes, and the policy section's four
  assert len(pngs) == 8, pngs
  events = _events(workdir)
  for path in pngs:
    (event,) = events.Images(f'report/{os.path.splitext(os.path.basename(path))[0]}')
    assert event.step == 10
    stored = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert('RGB'))
    np.testing.assert_array_equal(stored, np.asarray(Image.open(path).convert('RGB')))


def test_wandb_logs_the_same_when_installed(logged_run):
  workdir, _, fake = logged_run
  (init,) = fake.inits
  assert init['project'] == 'my-project' and init['resume'] == 'allow'
  with open(os.path.join(workdir, 'wandb_run_id')) as f:
    assert init['id'] == f.read().strip()  # a resumed run logs into the same W&B run
  assert init['config']['method'] == 'adafilter'
  scalars = [(step, values) for step, values in fake.logs
             if not any(isinstance(v, FakeWandb.Image) for v in values.values())]
  assert scalars == [(r['step'], metrics.scalars(r)) for r in runs.records(workdir)]
  (images_step, images), = [(s, v) for s, v in fake.logs if (s, v) not in scalars]
  assert images_step == 10
  for tag, image in images.items():
    path = os.path.join(workdir, 'report', tag.split('/', 1)[1] + '.png')
    np.testing.assert_array_equal(image.array, np.asarray(Image.open(path).convert('RGB')))
  assert fake.finished == 1


def test_wandb_asked_for_but_missing_fails_before_compiling(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'wandb', None)  # any import of wandb now fails
  runs.no_compile(monkeypatch)
  with pytest.raises(ImportError, match='pip install wandb'):
    train_and_evaluate(tiny_config.config(wandb='p'), str(tmp_path / 'run'))


def test_resumed_writer_hides_the_events_of_epochs_it_drops(tmp_path):
  """A kill between an epoch's record and its checkpoint: the resumed run writes that
  epoch again; TensorBoard must show the new values only, as metrics.jsonl does."""
  workdir = str(tmp_path / 'run')
  config = tiny_config.config()
  first = metrics.Writer(workdir, config=config)
  for epoch, loss in ((1, 2.0), (2, 1.5)):
    first.epoch({'epoch': epoch, 'step': 5 * epoch, 'train_loss': loss, 'lr': {'head': 0.1}})
  first.close()
  resumed = metrics.Writer(workdir, resume_epoch=1, config=config)  # checkpoint of epoch 1
  resumed.epoch({'epoch': 2, 'step': 10, 'train_loss': 1.25, 'lr': {'head': 0.01}})
  resumed.close()
  events = _events(workdir)
  assert [(e.step, e.value) for e in events.Scalars('train_loss')] == [(5, 2.0), (10, 1.25)]
  assert [(e.step, np.float32(e.value)) for e in events.Scalars('lr/head')] == [
      (5, np.float32(0.1)), (10, np.float32(0.01))]
  assert [r['train_loss'] for r in runs.records(workdir)] == [2.0, 1.25]


def test_profile_steps_write_a_trace_and_change_nothing(logged_run, tmp_path):
  workdir, plain, _ = logged_run
  profiled_dir = str(tmp_path / 'profiled')
  profiled = train_and_evaluate(tiny_config.config('adafilter', epochs=2, profile_steps=(2, 3)),
                                profiled_dir)
  jax.tree.map(np.testing.assert_array_equal, profiled.params, plain.params)
  jax.tree.map(np.testing.assert_array_equal, profiled.batch_stats, plain.batch_stats)
  (run,) = glob.glob(os.path.join(profiled_dir, 'plugins', 'profile', '*'))  # one trace
  assert glob.glob(os.path.join(run, '*.xplane.pb'))  # TensorBoard's profile plugin
  with gzip.open(os.path.join(run, 'perfetto_trace.json.gz')) as f:  # Perfetto
    trace = json.load(f)
  steps = {int(e['args']['step_num']) for e in trace['traceEvents']
           if e.get('name') == 'train' and 'step_num' in e.get('args', {})}
  assert steps == {2, 3}
  assert not glob.glob(os.path.join(workdir, 'plugins'))  # no profile unless asked


def test_commands_start_and_write_events_without_torch(tmp_path):
  """tensorboardX imports torch wherever torch is installed (as here, for the parity
  tests), for torch tensors the writer is never given: a command, a grain worker
  importing the loop, or the run that opens the event writer must not pay that import
  (1.4 CPU-s)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  code = ('import sys, main, adafilter_jax.systems.selective.rounds\n'
          "print('torch' in sys.modules, 'tensorboardX' in sys.modules)\n"
          'from adafilter_jax.train import sinks\n'
          f'sinks.TensorBoard({str(tmp_path)!r}, 0).scalars({{"a": 1.0}}, 1)\n'
          "print('torch' in sys.modules)")
  out = subprocess.run([sys.executable, '-c', code], cwd=root, capture_output=True,
                       text=True, check=True).stdout.split()
  assert out == ['False', 'False', 'False'], out
  assert glob.glob(str(tmp_path / 'events.out.tfevents.*'))
