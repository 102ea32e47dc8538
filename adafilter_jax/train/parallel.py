"""Data parallelism over all local devices: `pmap` (the default) or `jit` over a mesh.

Both run the same step functions (steps.py) on the same global batch and give the same
numbers: pmap averages gradients, metrics and BN statistics over the device axis
explicitly; jit shards the batch over a 1-D mesh and lets XLA insert the reductions.
Multi-host: call `initialize_distributed()` before anything else; each host feeds
its own slice of the global batch (the data pipeline shards by process index) and both
strategies assemble the global batch from the local ones; a signal on any host stops
all of them after the same step (`agreed_signal`).
"""
import os
from typing import Any, Callable, Optional

from flax import jax_utils
import jax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np

PMAP_AXIS = 'batch'
MESH_AXIS = 'data'
STRATEGIES = ('pmap', 'jit')
# XLA:CPU strips optimization barriers before its CSE, which then merges a recomputed
# block (model.remat) or the lean units' backward (models/lean.py) back into the forward
# and keeps alive what they were written to free. XLA:GPU keeps barriers until after
# scheduling.
KEEP_BARRIERS = {'xla_disable_hlo_passes': 'cse_barrier_expander'}


def compiler_options(config) -> Optional[dict]:
  """The train step's XLA options: on a CPU, the barriers kept where the model relies on
  them (`model.remat`, `model.lean_units`); else XLA's defaults."""
  model = config.model
  if jax.default_backend() == 'cpu' and (model.get('remat') or model.get('lean_units')):
    return dict(KEEP_BARRIERS)
  return None


def initialize_distributed():
  """`jax.distributed.initialize()` for `main.py --distributed`, before anything else.

  A cluster JAX detects (SLURM, Open MPI, Kubernetes, Cloud TPU) needs nothing. Anywhere
  else set JAX_COORDINATOR_ADDRESS (host:port of process 0, reachable from all),
  JAX_NUM_PROCESSES and JAX_PROCESS_ID on every process: JAX reads only the first.
  """
  num, index = os.environ.get('JAX_NUM_PROCESSES'), os.environ.get('JAX_PROCESS_ID')
  jax.distributed.initialize(num_processes=int(num) if num else None,
                             process_id=int(index) if index else None)


class CompiledWith:
  """A `jax.pmap`ped function compiled with XLA `options`, which pmap does not take and
  its lowered form does: one compile per signature of the arguments, as pmap's own."""

  def __init__(self, step: Callable, options: dict):
    self.step, self.options, self.compiled = step, options, {}

  def __call__(self, *args):
    leaves, tree = jax.tree.flatten(args)
    signature = (tree, tuple((np.shape(x), str(getattr(x, 'dtype', type(x)))) for x in leaves))
    if signature not in self.compiled:
      self.compiled[signature] = self.step.lower(*args).compile(self.options)
    return self.compiled[signature](*args)


class Parallel:
  """Places the train state and batches, compiles the steps, brings outputs back."""

  def __init__(self, strategy: str):
    if strategy not in STRATEGIES:
      raise ValueError(f'unknown config.parallel {strategy!r}; expected one of {STRATEGIES}')
    self.strategy = strategy
    self.num_devices = jax.device_count()
    self.local_devices = jax.local_devices()
    if strategy == 'jit':
      mesh = Mesh(np.asarray(jax.devices()), (MESH_AXIS,))
      self.replicated = NamedSharding(mesh, P())
      self.sharded = NamedSharding(mesh, P(MESH_AXIS))
    else:
      # What pmap's outputs carry (jax >= 0.10 runs pmap as a sharded jit). Inputs placed
      # any other way (jax_utils.replicate's '_device_put_sharded' mesh) make the second
      # step, fed the first step's outputs, compile the whole step again.
      self.stacked = NamedSharding(Mesh(np.asarray(self.local_devices), (PMAP_AXIS,)),
                                   P(PMAP_AXIS))

  @property
  def bn_axis_name(self) -> Optional[str]:
    """What the model's BN must average over: the pmap axis, or nothing under jit."""
    return PMAP_AXIS if self.strategy == 'pmap' else None

  def check_batch(self, global_batch_size: int, what: str = 'config.batch_size'):
    if global_batch_size % self.num_devices:
      raise ValueError(f'{what}={global_batch_size} is not divisible by the '
                       f'{self.num_devices} devices.')

  def put_state(self, tree):
    """A host tree (numpy or single-device arrays) -> on every device."""
    if self.strategy == 'pmap':
      n = len(self.local_devices)
      return jax.tree.map(
          lambda x: jax.device_put(np.broadcast_to(x, (n,) + np.shape(x)), self.stacked),
          jax.device_get(tree))
    return jax.device_put(tree, self.replicated)

  def get_state(self, tree):
    """The device tree -> one host (numpy) copy."""
    if self.strategy == 'pmap':
      tree = jax_utils.unreplicate(tree)
    return jax.device_get(tree)

  def put_batch(self, batch):
    """A host-local numpy batch -> the global batch, split over the devices."""
    if self.strategy == 'pmap':
      n = len(self.local_devices)
      return jax.tree.map(lambda x: x.reshape((n, -1) + x.shape[1:]), batch)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self.sharded, x), batch)

  def get_outputs(self, tree):
    """Per-example device outputs -> numpy, the global batch on every host."""
    if self.strategy == 'pmap':
      tree = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), tree)
    if jax.process_count() > 1:
      return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)

  def train_step(self, fn: Callable, options: Optional[dict] = None) -> Callable:
    """(state, batch, key, anchor) -> (state, metrics); the state is donated. `options`:
    XLA's compiler options (`compiler_options`)."""
    if self.strategy == 'pmap':
      step = jax.pmap(fn, axis_name=PMAP_AXIS, in_axes=(0, 0, None, 0), donate_argnums=(0,))
      return step if options is None else CompiledWith(step, options)
    return jax.jit(fn, out_shardings=(self.replicated, self.replicated), donate_argnums=(0,),
                   compiler_options=options)

  def eval_step(self, fn: Callable) -> Callable:
    if self.strategy == 'pmap':
      return jax.pmap(fn, axis_name=PMAP_AXIS, in_axes=(0, 0, None))
    return jax.jit(fn, out_shardings=self.sharded)

  def agreed_signal(self, signum: Optional[int]) -> Optional[int]:
    """The signal any process received (None if none did), the same on every process.

    Hosts must stop after the same step: one that stops alone to save leaves the others
    waiting in the next step's all-reduce, and itself in the checkpoint's barrier. A
    preemption signals every host, but not between the same two steps. Multi-host, this
    is one small all-gather per step.
    """
    if jax.process_count() == 1:
      return signum
    got = int(multihost_utils.process_allgather(np.int32(signum or 0)).max())
    return got or None

  def metrics(self, tree) -> Any:
    """Device-averaged scalars -> host floats (they are equal on every device)."""
    if self.strategy == 'pmap':
      tree = jax_utils.unreplicate(tree)
    return jax.tree.map(float, jax.device_get(tree))
