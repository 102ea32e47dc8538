"""AdaFilter on any flax linen conv net, without editing its code: ``gate(model, x, ...)``.

The user's model runs as written under `nn.intercept_methods`, which sees every submodule
call in call order. Per gated conv of the plan (`record`):

  F  = the user's own conv, at its own param path (trained);
  S  = a copy of it beside it, ``<conv>_pre``, read behind `stop_gradient` (never moved);
  G  = the shared gate (gates.py: LSTM, CNN or random), stepped conv after conv in call
       order, so the LSTM's state needs no place in the user's block signatures;
  Eq. 5, when a norm receives the conv's output: y = G ? BN_ft(F x) : BN_pre(S x), BN_ft
       the user's norm, BN_pre a copy beside it, ``<norm>_pre`` (trained);
  Eq. 6, when none does (or ``gated_bn=False``): the user's code gets G ? F x : S x.

G picks per example and output channel with a select (`mix`), not G*a + (1-G)*b, so a NaN
or inf in the branch not picked never reaches the output; the gate's straight-through
gradient is the product form's.

Weights: the user's variables are F and BN_ft as they are; S and BN_pre start as copies
of them, by the one rule `with_copies` (the paper: both copies from the pretrained net).
"""
import dataclasses
import inspect
import json
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from adafilter_jax.models import convs as convs_lib
from adafilter_jax.models import gated_fast, layers, lean, selected_bn
from adafilter_jax.models import gates as gates_lib
from adafilter_jax.models.ste import mix

ModuleDef = Any
COPY_SUFFIX = '_pre'  # S beside F, BN_pre beside BN_ft (the names pretrained.py maps)
CONVS = (nn.Conv, layers.Conv)   # module classes that count as a conv
NORMS = (nn.BatchNorm,)          # ... and as a norm that may receive a conv's output
TRAIN_FLAGS = ('auto', 'train', 'deterministic', 'mutable')


@dataclasses.dataclass(frozen=True)
class Layer:
  """One conv of the model, in call order."""
  conv: str              # the conv's module path, 'layer1_0/conv1/conv'
  norm: Optional[str]    # the norm that receives its output (Eq. 5), or None (Eq. 6)
  features: int          # output channels: the width of its gate decisions
  gated: bool
  name: str              # the layer's name for the gate and its decisions


Plan = Tuple[Layer, ...]


def _path(module: nn.Module) -> str:
  return '/'.join(module.scope.path)


def _holder(conv: str, norm: Optional[str]) -> str:
  """The module that holds the conv and its norm (a unit, a ConvBlock), else the conv."""
  if norm is None:
    return conv
  common = []
  for a, b in zip(conv.split('/'), norm.split('/')):
    if a != b:
      break
    common.append(a)
  return '/'.join(common) or conv


def _layer_names(pairs) -> list:
  """Each layer's name: the module holding its conv and norm where that module holds
  no other layer (a unit), else the conv's own path (a block with sibling convs)."""
  holders = [_holder(conv, norm) for conv, norm in pairs]
  return [h if holders.count(h) == 1 else conv for h, (conv, _) in zip(holders, pairs)]


def refuse_lifted(module: nn.Module, top: nn.Module):
  """The gate's state goes from one conv to the next outside the model's code, so no conv
  may run inside a linen transform (nn.remat, nn.scan, nn.vmap) of the model's own that
  `top` is outside of: the state could not leave it. (`Gated.remat` recomputes blocks
  with the state passed through.)"""
  if module.scope.trace_level != top.scope.trace_level:
    raise ValueError(
        f'AdaFilter: conv {_path(module)!r} runs inside a linen transform (nn.remat, '
        f'nn.scan or nn.vmap), which the gate\'s state cannot cross; build the model '
        f'without it, and to recompute blocks name their classes: gate(..., remat=(Block,))')


def copy_path(path: Sequence[str]) -> Tuple[str, ...]:
  """Where the copy (S or BN_pre) of the module at `path` lives: beside it."""
  return tuple(path[:-1]) + (path[-1] + COPY_SUFFIX,)


def record(model: nn.Module, *args, gated_layers: str = 'all', convs=CONVS, norms=NORMS,
           **kwargs) -> Plan:
  """The plan of `model` called on `args`/`kwargs`, by an abstract trace (nothing is
  computed): every conv in call order, the norm its output goes into unchanged,
  its width, and whether `gated_layers` (gates.is_gated) gates it."""
  found = []
  last = {}

  def see(next_fun, a, kw, ctx):
    last.setdefault('top', ctx.module)  # the model itself: its call is the first seen
    out = next_fun(*a, **kw)
    if ctx.method_name == '__call__' and isinstance(ctx.module, convs):
      refuse_lifted(ctx.module, last['top'])
      found.append([_path(ctx.module), None, out.shape[-1]])
      last['out'] = out
    elif (ctx.method_name == '__call__' and isinstance(ctx.module, norms) and a
          and last.get('out') is a[0] and found[-1][1] is None):
      found[-1][1] = _path(ctx.module)
    return out

  def init():
    with nn.intercept_methods(see):
      return model.init(jax.random.key(0), *args, **kwargs)

  jax.eval_shape(init)
  names = _layer_names([(conv, norm) for conv, norm, _ in found])
  return tuple(Layer(conv, norm, width, gates_lib.is_gated(gated_layers, name), name)
               for (conv, norm, width), name in zip(found, names))


def plan_json(plan: Plan) -> str:
  """The plan as JSON, one layer a line: what a run saves and a user edits."""
  return '[\n' + ',\n'.join(json.dumps(dataclasses.asdict(l)) for l in plan) + '\n]\n'


def plan_from_json(text: str) -> Plan:
  return tuple(Layer(**d) for d in json.loads(text))


def copies(plan: Plan) -> Tuple[Tuple[Tuple[str, ...], Tuple[str, ...]], ...]:
  """(copy, source) module paths of every gated layer: S from F, BN_pre from BN_ft."""
  out = []
  for layer in plan:
    if layer.gated:
      for path in (layer.conv, layer.norm):
        if path is not None:
          out.append((copy_path(path.split('/')), tuple(path.split('/'))))
  return tuple(out)


def with_copies(variables, plan: Plan):
  """`variables` of a gated model with S and BN_pre (every collection) set to copies of
  F and BN_ft: the rule that starts both branches from the same (pretrained) weights.
  A copy the model does not have (Eq. 6 has no BN_pre) is skipped."""
  out = {}
  for col, tree in variables.items():
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))
    for dst, src in copies(plan):
      for key in [k for k in flat if k[:len(dst)] == dst]:
        flat[key] = flat[src + key[len(dst):]]
    out[col] = flax.traverse_util.unflatten_dict(flat)
  return out


def frozen_modules(params) -> set:
  """The module paths of the frozen copies S in a params tree: a module named
  ``<name>_pre`` that holds a 'kernel' (BN_pre, the other copy, holds scale and bias).
  A rule on names, so that a method groups a model's params without its plan."""
  return {key[:-1] for key in flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
          if key[-1] == 'kernel' and len(key) > 1 and key[-2].endswith(COPY_SUFFIX)}


def _clone_at(module: nn.Module, name: str) -> nn.Module:
  """A module like `module` (same fields) bound beside it under `name`."""
  return module.clone(parent=module.scope.parent.push(name, reuse=True))


def _copy_of(module: nn.Module) -> nn.Module:
  """The copy beside `module` (S beside F, BN_pre beside BN_ft), bound as `module` is."""
  return _clone_at(module, module.name + COPY_SUFFIX)


def frozen_copy(module: nn.Module, args, kwargs):
  """S: `module`'s copy beside it, called as it was, its params behind stop_gradient."""
  copy = _copy_of(module)
  if module.is_initializing():
    return copy(*args, **kwargs)
  frozen = jax.tree.map(jax.lax.stop_gradient, copy.scope.variables())
  return module.clone(parent=None).apply(frozen, *args, **kwargs)


class _Deferred(NamedTuple):
  """A conv call left for its norm to run as one lean unit (lean.py) with it."""
  x: Any
  conv: nn.Module
  kwargs: dict


class _Fused(NamedTuple):
  """A conv call left for its norm to run as one per-example conv (gated_fast.py)."""
  x: Any
  impl: str
  conv: nn.Module


def _placeholder(m: nn.Module, x):
  """What a conv whose work its norm does returns: its output's shape, never read."""
  ho, wo = (convs_lib.out_size(n, m.kernel_size, m.strides, m.padding) for n in x.shape[1:3])
  return jnp.zeros(x.shape[:1] + (ho, wo, m.features), m.dtype)


def _is_static(leaf) -> bool:
  return not isinstance(leaf, (jax.Array, jnp.ndarray))


def _split(tree):
  """`tree`'s array leaves, and a function that puts arrays back among its other leaves
  (Python flags such as the gate's `train`), which no jax transform may take or return."""
  leaves, treedef = jax.tree.flatten(tree)
  dynamic = [not _is_static(leaf) for leaf in leaves]

  def join(arrays):
    it = iter(arrays)
    return treedef.unflatten([next(it) if d else leaf for leaf, d in zip(leaves, dynamic)])
  return [leaf for leaf, d in zip(leaves, dynamic) if d], join


class _Runner:
  """The interceptor of one forward: walks the plan conv by conv, steps the gate."""

  def __init__(self, gated: 'Gated', gate, state, train: bool):
    self.plan, self.gate, self.state, self.train = gated.plan, gate, state, train
    self.options = gated
    self.index, self.pending, self.busy, self.entering = 0, None, False, False

  def __call__(self, next_fun, args, kwargs, ctx):
    m = ctx.module
    if self.busy or ctx.method_name != '__call__':
      return next_fun(*args, **kwargs)
    if isinstance(m, self.options.remat):
      if not self.entering:
        return self.checkpointed(m, args, kwargs)
      self.entering = False
      return next_fun(*args, **kwargs)
    if isinstance(m, self.options.convs):
      return self.conv(m, next_fun, args, kwargs)
    if self.pending is not None and _path(m) == self.pending[0].norm:
      return self.norm(m, next_fun, args, kwargs)
    return next_fun(*args, **kwargs)

  def checkpointed(self, block, args, kwargs):
    """`block` called under `nn.checkpoint` (its activations recomputed in the backward),
    with the gate and its state passed in and out: a lifted transform sees only its
    arguments and results, so the state the runner carries becomes both."""
    arrays, join = _split((args, kwargs, self.state))
    out_join = []

    def run(block, gate, arrays):
      args, kwargs, state = join(arrays)
      outer_gate, self.gate, self.state, self.entering = self.gate, gate, state, True
      try:
        out = block(*args, **kwargs)
      finally:
        self.gate = outer_gate
      out_arrays, join_out = _split((out, self.state))
      out_join.append(join_out)
      return out_arrays

    out_arrays = nn.checkpoint(run)(block, self.gate, arrays)
    out, self.state = out_join[-1](out_arrays)
    return out

  def step_gate(self, x, features):
    self.busy = True
    try:
      return self.gate(x, self.state, self.plan[self.index - 1].name, features)
    finally:
      self.busy = False

  def conv(self, m, next_fun, args, kwargs):
    if self.index >= len(self.plan) or _path(m) != self.plan[self.index].conv:
      expected = (self.plan[self.index].conv if self.index < len(self.plan)
                  else 'no more convs')
      raise ValueError(f'AdaFilter plan: conv {_path(m)!r} called where the plan has '
                       f'{expected!r} (conv #{self.index}); the model calls its convs '
                       f'otherwise than when the plan was recorded: record it again')
    if self.pending is not None:
      raise ValueError(f'AdaFilter plan: norm {self.pending[0].norm!r} was not called '
                       f'on the output of conv {self.pending[0].conv!r}: record the plan again')
    refuse_lifted(m, self.gate)
    layer = self.plan[self.index]
    self.index += 1
    if self.lean_at(m, layer, args, kwargs):  # training, lean units: done at the norm
      g = None
      if layer.gated:
        g, self.state = self.step_gate(args[0], m.features)
      self.pending = (layer, g, _Deferred(args[0], m, kwargs))
      return _placeholder(m, args[0])
    if not layer.gated:
      return next_fun(*args, **kwargs)
    impl = self.fused_impl(m, layer, args[0])
    if impl is not None:  # test time, one conv per example: done at the norm
      g, self.state = self.step_gate(args[0], m.features)
      self.pending = (layer, g, _Fused(args[0], impl, m))
      return _placeholder(m, args[0])
    f = next_fun(*args, **kwargs)
    g, self.state = self.step_gate(args[0], f.shape[-1])
    self.busy = True
    try:
      s = frozen_copy(m, args, kwargs)
    finally:
      self.busy = False
    if layer.norm is not None:
      self.pending = (layer, g, s)
      if self.options.gated_bn:
        return f
    return mix(g.astype(f.dtype), f, s)   # Eq. 6: the user's code normalises the mix

  def lean_at(self, m, layer, args, kwargs) -> bool:
    """Whether this conv and its norm may run as one lean unit (`Gated.lean`): in
    training, for a conv it knows (`layers.Conv`) called on x alone, with a norm after
    it, and Eq. 5's statistics over the whole batch. The norm's own settings are checked
    when it is called (`lean.runs_lean`): the general path runs where they do not fit."""
    eq5_selected = layer.gated and self.options.gated_bn and self.options.bn_stats != 'batch'
    return (self.options.lean and self.train and not m.is_initializing()
            and layer.norm is not None and isinstance(m, layers.Conv)
            and len(args) == 1 and not kwargs and not eq5_selected)

  def fused_impl(self, m, layer, x) -> Optional[str]:
    """The per-example conv of the test-time fast path (gated_fast.py) for this layer,
    or None: only at test time, for a conv it knows (`layers.Conv`) and a BatchNorm."""
    if (self.train or m.is_initializing() or layer.norm is None
        or not isinstance(m, layers.Conv)
        or not all(issubclass(n, nn.BatchNorm) for n in self.options.norms)):
      return None
    return gated_fast.per_example_impl(self.options.eval_impl, x.shape, m.kernel_size,
                                       m.strides, m.padding)

  def norm(self, m, next_fun, args, kwargs):
    layer, g, s = self.pending
    self.pending = None
    if isinstance(s, _Deferred):
      return self.lean(m, layer, g, s, next_fun, args, kwargs)
    if isinstance(s, _Fused):
      return self.fused(m, g, *s)
    if not self.options.gated_bn:
      return next_fun(*args, **kwargs)
    self.busy = True
    try:
      copy = _copy_of(m)
      if self.options.bn_stats == 'selected':
        bn_ft, bn_pre = (selected_bn.like(norm, self.train) for norm in (m, copy))
        y_ft, y_pre = bn_ft(args[0], g[:, None, None, :]), bn_pre(s, 1 - g[:, None, None, :])
      else:
        y_ft = next_fun(*args, **kwargs)
        y_pre = copy(s, *args[1:], **kwargs)
    finally:
      self.busy = False
    return mix(g.astype(y_ft.dtype), y_ft, y_pre)   # Eq. 5

  def lean(self, m, layer, g, deferred, next_fun, args, kwargs):
    """The deferred conv and the norm `m` as one lean unit (lean.py): plain where the
    layer is not gated (g None), else Eq. 5 (or Eq. 6 without gated BN). Where the
    norm's settings do not fit one, the conv (and S) run now and the norm as usual."""
    x, conv, conv_kwargs = deferred
    self.busy = True
    try:
      unit = lean.runs_lean(conv, m, args[1:], kwargs)
      if unit is not None and g is None:
        return lean.plain_unit(conv, m, x)
      if unit is not None:
        return lean.gated_unit(conv, _copy_of(conv), m,
                               _copy_of(m) if self.options.gated_bn else None,
                               x, g, unit, self.options.recompute_s)
      f = conv(x, **conv_kwargs)
      s = None if g is None else frozen_copy(conv, (x,), conv_kwargs)
    finally:
      self.busy = False
    if g is None:
      return next_fun(f, *args[1:], **kwargs)
    if self.options.gated_bn:
      self.pending = (layer, g, s)
      return self.norm(m, next_fun, (f,) + tuple(args[1:]), kwargs)
    return next_fun(mix(g.astype(f.dtype), f, s), *args[1:], **kwargs)

  def fused(self, m, g, x, impl, conv):
    """The conv and its norm as one per-example conv (gated_fast.fused)."""
    affine = lambda bn: gated_fast.eval_affine(bn.variables, m.epsilon)
    kernel = lambda c: c.get_variable('params', 'kernel')
    return gated_fast.fused(x, g, kernel(conv), kernel(_copy_of(conv)), affine(m),
                            affine(_copy_of(m)) if self.options.gated_bn else None,
                            conv.strides, conv.padding, impl, conv.dtype)


class Gated(nn.Module):
  """The user's `model` with AdaFilter's gated convs; returns ``(its output, decisions)``,
  decisions: layer name -> [batch, channels], 1 = F, in call order.

  Attributes:
    model: the user's linen module (its variables keep their paths: it runs in this
      module's scope).
    plan: `record`'s plan (which convs, their norms, which are gated).
    gate: the gate's module definition (gates.py; models/adafilter.gate_def builds it
      from the config), created once as ``gate``.
    gated_bn: True: Eq. 5 where the plan pairs a conv with a norm; False: Eq. 6 everywhere.
    train_flag: how the model says it is training, for the gate (TRAIN_FLAGS): a ``train``
      argument, a ``deterministic`` one (training = not it), or a mutable
      ``batch_stats`` collection; 'auto': the first of these the model's call has.
    merge_gates: the model returns ``(logits, gates)`` as this project's models do: return
      ``(logits, gates + decisions)`` instead of ``((logits, gates), decisions)``.
    convs, norms: the module classes that count as a conv, and as a norm.
    remat: module classes (the model's residual blocks) whose calls run under
      `nn.checkpoint`, their activations recomputed in the backward: the gate's state
      is passed in and out, which a model's own `nn.remat` cannot do (`refuse_lifted`).
    bn_stats: Eq. 5's batch statistics (selected_bn.BN_STATS): the user's norm over the
      batch, or each branch's over the examples that picked it.
    eval_impl: at test time, gated_fast.EVAL_IMPLS: two branches, or one per-example
      conv where the conv is a `layers.Conv` and the norm a BatchNorm.
    lean: in training, each `layers.Conv` + `nn.BatchNorm` pair, gated or not, as one
      lean unit (lean.py: the same numbers, a backward that keeps less); others as above.
    recompute_s: where the lean gated units recompute S(x) from x in the backward rather
      than keep it (lean.RECOMPUTE_S: 'none', 'expanding', 'all'; a bool: 'all' / 'none').
  """
  model: nn.Module
  plan: Plan
  gate: ModuleDef
  gated_bn: bool = True
  train_flag: str = 'auto'
  merge_gates: bool = False
  convs: Tuple[type, ...] = CONVS
  norms: Tuple[type, ...] = NORMS
  remat: Tuple[type, ...] = ()
  bn_stats: str = 'batch'
  eval_impl: str = 'two_branch'
  lean: bool = False
  recompute_s: Any = 'expanding'

  def training(self, args, kwargs) -> bool:
    flag = self.train_flag
    if flag not in TRAIN_FLAGS:
      raise ValueError(f'train_flag={flag!r}: expected one of {TRAIN_FLAGS}')
    bound = inspect.signature(self.model.__call__).bind(*args, **kwargs)
    bound.apply_defaults()
    if flag == 'auto':
      flag = next((f for f in ('train', 'deterministic') if f in bound.arguments), 'mutable')
    if flag == 'mutable':
      return self.is_mutable_collection('batch_stats')
    if flag not in bound.arguments:
      raise ValueError(f'train_flag={flag!r}: the model\'s __call__ has no argument {flag!r}')
    value = bool(bound.arguments[flag])
    return not value if flag == 'deterministic' else value

  @nn.compact
  def __call__(self, *args, **kwargs):
    if self.bn_stats not in selected_bn.BN_STATS:
      raise ValueError(f'unknown adafilter.bn_stats {self.bn_stats!r}; expected one of '
                       f'{selected_bn.BN_STATS}')
    train = self.training(args, kwargs)
    gate = self.gate(name='gate')
    runner = _Runner(self, gate, gate.init_state(args[0], train), train)
    # Bound to this module's own scope: the user's variables keep their paths.
    model = self.model.clone(parent=self.scope, _deep_clone=True)
    with nn.intercept_methods(runner):
      out = model(*args, **kwargs)
    if runner.index != len(self.plan):
      raise ValueError(f'AdaFilter plan: the model called {runner.index} of the plan\'s '
                       f'{len(self.plan)} convs: record the plan again')
    # In the plan's (call) order: a state passed through nn.checkpoint comes back sorted.
    decisions = {l.name: runner.state.decisions[l.name] for l in self.plan
                 if l.name in runner.state.decisions}
    if self.merge_gates:
      logits, gates = out
      return logits, {**gates, **decisions}
    return out, decisions


def gate(model: nn.Module, *sample_args, gate: ModuleDef, gated_layers: str = 'all',
         plan: Optional[Plan] = None, gated_bn: bool = True, train_flag: str = 'auto',
         merge_gates: bool = False, convs=CONVS, norms=NORMS, remat=(),
         bn_stats: str = 'batch', eval_impl: str = 'two_branch', lean: bool = False,
         recompute_s='expanding', **sample_kwargs) -> Gated:
  """AdaFilter's form of `model`: its plan recorded on a sample call (``model(*sample_args,
  **sample_kwargs)``; shapes only) unless given, and `gate` (a gates.py module
  definition) shared by the gated convs. See `Gated` for the rest."""
  if plan is None:
    plan = record(model, *sample_args, gated_layers=gated_layers, convs=convs, norms=norms,
                  **sample_kwargs)
  return Gated(model, tuple(plan), gate, gated_bn=gated_bn, train_flag=train_flag,
               merge_gates=merge_gates, convs=tuple(convs), norms=tuple(norms),
               remat=tuple(remat), bn_stats=bn_stats, eval_impl=eval_impl, lean=lean,
               recompute_s=recompute_s)
