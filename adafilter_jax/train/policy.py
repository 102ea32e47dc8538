"""Does the gate choose per example? Diagnostics of a gate's eval-set decisions (numpy only).

AdaFilter's claim is a *per-example* policy G_i(x_i) (Eq. 1). The paper's Fig. 4 shows
only the mean over images of each layer's decisions, which a static policy (the same
filters for every image) shows just as well. From the decisions D[n, f] ∈ {0, 1} of one
gated layer (n over the N eval images, f over its C filters; 1 = the fine-tuned filter
F, 0 = the pretrained S) and the labels y[n], per layer:

- ``fraction``: mean of D, Fig. 4's bar.
- ``share`` (per filter, kept in gate_stats.npz): s_f = mean_n D[n, f], the share of eval
  images that pick F. A static filter has s_f ∈ {0, 1}, an adaptive one 0 < s_f < 1.
- ``varying``: the share of filters whose decision varies across images, #{f: 0 < s_f < 1}/C.
- ``image_std`` / ``image_min`` / ``image_max``: the spread over images of the per-image
  fraction r_n = mean_f D[n, f] (population std, ddof=0).
- ``mi_bits``: mean over filters of I(D_f; Y) in bits, the plug-in estimate from the
  empirical joint of (decision, class) over the eval images:
  I(D_f; Y) = Σ_{g∈{0,1}} Σ_k p(g, k) log2(p(g, k) / (p(g) p(k))), 0·log 0 = 0. It is 0 for a
  static filter and at most min(H(Y), 1) bit; a filter that copies a two-class label
  reaches H(Y). The plug-in estimate is biased upwards: for a decision independent of
  the class, about (K − 1)/(2 N ln 2) bits (Miller–Madow), K the classes present.
- ``mi_shuffled_bits``: the same with the labels shuffled (one fixed permutation,
  SHUFFLE_SEED): the estimator's own level for decisions that carry no class information
  on these shapes; ``mi_bits`` above it is information about the class.
- ``changed``: the share of decisions (image × filter) that differ from those of the gate
  as initialised, on the same images: how much training moved the policy.

``all`` aggregates over every gated filter (the per-image fraction over all of them, as
``gate_stats.npz``'s ``per_image_fraction``). `bernoulli_reference` gives the expected
values of the random policy (G ~ Bernoulli(p) per image and filter, Table 2's baseline)
on the same shapes: the reference beside a learned gate's numbers.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

# The per-layer scalars of `layer_diagnostics`, in the order tables show them.
KEYS = ('fraction', 'varying', 'image_std', 'image_min', 'image_max', 'mi_bits',
        'mi_shuffled_bits', 'changed')
SHUFFLE_SEED = 0


def unpack(packed: np.ndarray, channels: Sequence[int]) -> List[np.ndarray]:
  """[N, ceil(ΣC/8)] uint8 (np.packbits over the concatenated filters, big-endian bit
  order) -> per layer [N, C_l] bool, layers in forward order."""
  total = int(np.sum(channels))
  if packed.ndim != 2 or packed.shape[1] != (total + 7) // 8:
    raise ValueError(f'packed decisions of shape {packed.shape}: expected [N, {(total + 7) // 8}]'
                     f' for {len(channels)} layers of {total} filters in all.')
  bits = np.unpackbits(packed, axis=1, count=total).astype(bool)
  return np.split(bits, np.cumsum(channels)[:-1], axis=1)


def mutual_information(decisions: np.ndarray, labels: np.ndarray,
                       num_classes: int) -> np.ndarray:
  """[N, C] 0/1 decisions, [N] labels -> [C] plug-in I(D_f; Y) in bits (module docstring)."""
  d = np.asarray(decisions, np.float64)
  n = d.shape[0]
  onehot = np.eye(num_classes)[np.asarray(labels)]          # [N, K]
  n1 = onehot.T @ d                                         # [K, C]: count(g=1, class k)
  n0 = onehot.sum(0)[:, None] - n1                          # count(g=0, class k)
  py = onehot.sum(0)[:, None] / n                           # [K, 1]
  mi = np.zeros(d.shape[1])
  for joint in (n0 / n, n1 / n):
    pg = joint.sum(0, keepdims=True)                        # [1, C]
    with np.errstate(divide='ignore', invalid='ignore'):
      term = joint * np.log2(joint / (pg * py))
    mi += np.where(joint > 0, term, 0.0).sum(0)
  return np.maximum(mi, 0.0)  # rounding can leave -1e-17 for independent variables


def layer_diagnostics(decisions: np.ndarray, labels: np.ndarray, num_classes: int,
                      initial: Optional[np.ndarray] = None) -> Dict[str, float]:
  """One layer's scalars (`KEYS`; `changed` is None without the initial decisions)."""
  d = np.asarray(decisions, bool)
  share = d.mean(0)
  per_image = d.mean(1)
  changed = None if initial is None else float(np.mean(d != np.asarray(initial, bool)))
  return {'fraction': float(share.mean()),
          'varying': float(np.mean((share > 0) & (share < 1))),
          'image_std': float(per_image.std()), 'image_min': float(per_image.min()),
          'image_max': float(per_image.max()),
          'mi_bits': float(mutual_information(d, labels, num_classes).mean()),
          'mi_shuffled_bits': float(mutual_information(d, shuffled(labels),
                                                       num_classes).mean()),
          'changed': changed}


def shuffled(labels: np.ndarray) -> np.ndarray:
  """`labels` in one fixed random order (SHUFFLE_SEED): the class information removed,
  the class counts kept."""
  labels = np.asarray(labels)
  return labels[np.random.default_rng(SHUFFLE_SEED).permutation(len(labels))]


def diagnose(layers: Sequence[str], decisions: Sequence[np.ndarray], labels: np.ndarray,
             num_classes: int, initial: Optional[Sequence[np.ndarray]] = None) -> dict:
  """{'layers': {name: layer_diagnostics}, 'all': the same over every gated filter}."""
  if len(layers) != len(decisions):
    raise ValueError(f'{len(layers)} layer names for {len(decisions)} decision arrays')
  initial = [None] * len(layers) if initial is None else list(initial)
  out = {'layers': {name: layer_diagnostics(d, labels, num_classes, d0)
                    for name, d, d0 in zip(layers, decisions, initial)}}
  every = np.concatenate(decisions, 1)
  first = None if initial[0] is None else np.concatenate(initial, 1)
  out['all'] = layer_diagnostics(every, labels, num_classes, first)
  return out


def filter_shares(decisions: Sequence[np.ndarray]) -> np.ndarray:
  """Every gated filter's share of images picking F, layers concatenated in order."""
  return np.concatenate([np.asarray(d, bool).mean(0) for d in decisions])


def _bernoulli_layer(channels: int, n: int, num_classes: int, p: float) -> Dict[str, float]:
  return {'fraction': p, 'varying': 1.0 - p ** n - (1.0 - p) ** n,
          'image_std': float(np.sqrt(p * (1 - p) / channels)),
          'image_min': None, 'image_max': None,  # no closed form worth the name
          'mi_bits': (num_classes - 1) / (2.0 * n * np.log(2.0)),
          'mi_shuffled_bits': (num_classes - 1) / (2.0 * n * np.log(2.0)),
          'changed': 2.0 * p * (1.0 - p)}


def bernoulli_reference(layers: Sequence[str], channels: Sequence[int], num_images: int,
                        num_classes: int, p: float = 0.5) -> dict:
  """Expected diagnostics of G ~ Bernoulli(p) i.i.d. per image and filter (the random
  policy; `changed`: against another independent draw, the random gate's start).
  `num_classes`: the classes present among the eval images. The MI is the plug-in
  estimator's first-order bias (the true MI is 0); image_std the std of a binomial share."""
  return {'layers': {name: _bernoulli_layer(c, num_images, num_classes, p)
                     for name, c in zip(layers, channels)},
          'all': _bernoulli_layer(int(np.sum(channels)), num_images, num_classes, p)}


def from_outputs(outputs: Dict[str, np.ndarray], layers: Sequence[str], channels: Sequence[int],
                 num_classes: int, initial: Optional[Dict[str, np.ndarray]] = None) -> dict:
  """`diagnose` from an eval pass's per-example outputs (steps.make_eval_step's, padding
  removed: 'decisions' bit-packed, 'label', 'index'). `initial`: the initial gate's
  'decisions' and 'index' on the same images, matched to these by 'index'."""
  order = np.argsort(outputs['index'], kind='stable')
  start = None
  if initial is not None:
    first = np.argsort(initial['index'], kind='stable')
    if not np.array_equal(initial['index'][first], outputs['index'][order]):
      raise ValueError('the initial gate\'s decisions are of other eval images '
                       f"({len(first)} images vs {len(order)}): a run's eval split changed?")
    start = unpack(initial['decisions'][first], channels)
  return diagnose(layers, unpack(outputs['decisions'][order], channels),
                  outputs['label'][order], num_classes, start)
