"""Selective joint fine-tuning end to end: `run(config, workdir)`.

1. Retrieval (once, cached in `selective.index_dir`): each target training image's
   nearest source images under the chosen filter bank (index.py).
2. Rounds (5 by default): joint training from the previous round's weights (rounds.py);
   then, on the target training images, predictions and entropies -> K_i for the next
   round (mining.py); on the target test set, mean class accuracy. Each round writes
   round_<r>/round.json (K_i, hardness, entropy, accuracies) and its test softmax; a
   finished round is not trained again (its checkpoint is read back and measured).
3. summary.json and report.md: accuracy per round and of the rounds' ensemble (averaged
   softmax, the paper's "model fusion"), and a picture of target images beside their
   nearest sources.

Training and prediction run on train/parallel.py (`config.parallel`: pmap or jit, one
host or several); every process computes the same records, process 0 alone writes them.
"""
import json
import os

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np

from adafilter_jax.data import pipeline
from adafilter_jax.methods import selective_joint
from adafilter_jax.systems.selective import cnn_bank, figure, images, index, joint, mining, rounds
from adafilter_jax.systems.selective import sampler as sampler_lib
from adafilter_jax.train import lock
from adafilter_jax.train import metrics as metrics_lib
from adafilter_jax.train import parallel as parallel_lib
from adafilter_jax.weights import pretrained


def check(config):
  """Every bad setting, before anything loads or compiles."""
  sel = config.selective
  if sel.source_mode not in selective_joint.SOURCE_MODES:
    raise ValueError(f'config.selective.source_mode={sel.source_mode!r}; expected one of '
                     f'{selective_joint.SOURCE_MODES}.')
  if sel.bank not in selective_joint.BANKS:
    raise ValueError(f'config.selective.bank={sel.bank!r}; expected one of '
                     f'{selective_joint.BANKS}.')
  for name in ('k0', 'rounds', 'target_batch', 'iter_size', 'iterations', 'checkpoint_every'):
    if int(sel[name]) < 1:
      raise ValueError(f'config.selective.{name}={sel[name]} must be >= 1.')
  if sel.bank == 'resnet_stem' and not (sel.bank_weights or config.pretrained):
    raise ValueError("config.selective.bank='resnet_stem' reads the stem of converted ResNet "
                     'weights: set config.pretrained or config.selective.bank_weights.')
  if sel.bank == 'alexnet' and not sel.bank_weights.endswith('.pth'):
    raise ValueError("config.selective.bank='alexnet' needs bank_weights = torchvision's "
                     f'alexnet .pth file; got {sel.bank_weights!r}.')
  if config.grad_accum_steps != 1:
    raise ValueError(f'config.grad_accum_steps={config.grad_accum_steps}: selective joint '
                     'fine-tuning accumulates with config.selective.iter_size instead.')
  parallel = parallel_lib.Parallel(config.parallel)
  parallel.check_batch(sel.target_batch, 'config.selective.target_batch')
  parallel.check_batch(config.eval_batch_size, 'config.eval_batch_size')
  if not 0.0 <= sel.source_weight <= 1.0:
    raise ValueError(f'config.selective.source_weight={sel.source_weight} not in [0, 1].')


def bank_split(split: images.Split, sel) -> images.Split:
  """The same split read at the descriptor's resolution."""
  cfg = split.data_cfg.copy_and_resolve_references()
  with cfg.unlocked():
    cfg.image_size, cfg.resize_size = sel.bank_image_size, sel.bank_resize_size
  return images.Split(cfg, split.split)


def retrieve(config, target, source, backbone) -> index.Index:
  sel = config.selective
  weights = sel.bank_weights or config.pretrained
  bank = cnn_bank.make_bank(sel.bank, sel.bank_image_size, weights,
                            backbone if not sel.bank_weights else None)
  num_bins = sel.num_bins or (32 if sel.bank == 'gabor' else 100)
  k = min(sel.max_neighbours, len(source))
  t, s = bank_split(target, sel), bank_split(source, sel)
  key = index.cache_key(bank, t.identity(), s.identity(), num_bins, k)
  bs = sel.descriptor_batch
  build = lambda: index.build_or_load(bank, lambda: t.eval_batches(bs),
                                      lambda: s.eval_batches(bs), key, sel.index_dir)
  if jax.process_count() == 1:
    return build()
  # Process 0 builds and writes the cached index; the others read it.
  idx = build() if jax.process_index() == 0 else None
  multihost_utils.sync_global_devices('selective index')
  return idx or build()


def make_sampler(config, round_, k, neighbours, num_target, num_source):
  """The round's sampler for `selective.source_mode`: the selected neighbours, a random
  source subset as large as their union, the whole source, or no source."""
  sel, mode = config.selective, config.selective.source_mode
  common = dict(num_target=num_target, batch_size=sel.target_batch, seed=config.seed,
                round_=round_,
                repeats=mining.sampling_levels(k, sel.k0) if sel.oversample_hard else None)
  if mode == 'selective':
    return sampler_lib.JointSampler(neighbours=neighbours, k=k, **common)
  if mode == 'random':
    union = sampler_lib.JointSampler(neighbours=neighbours, k=k, **common).num_source_images()
    pool = np.random.default_rng([config.seed, round_, 7]).choice(num_source, union, False)
    return sampler_lib.JointSampler(pool=np.sort(pool), **common)
  if mode == 'all':
    return sampler_lib.JointSampler(pool=np.arange(num_source), **common)
  return sampler_lib.JointSampler(**common)


def open_splits(config):
  train, evaluation = pipeline.splits(config.data)
  target, test = images.Split(config.data, train), images.Split(config.data, evaluation)
  # The source is opened in every mode: even without source training the index (and so
  # the neighbours picture) is computed, once, from the cache.
  source = images.Split(config.selective.source, config.selective.source.train_split)
  return target, test, source


def run(config, workdir: str) -> dict:
  check(config)
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  with lock.locked(workdir):  # one job at a time in it, as the training loop's
    return _run(config, workdir)


def _run(config, workdir: str) -> dict:
  sel = config.selective
  target, test, source = open_splits(config)
  num_target_classes = pipeline.load_dataset_info(config.data).num_classes
  num_source_classes = pipeline.load_dataset_info(sel.source).num_classes
  backbone = pretrained.load(config.pretrained) if config.pretrained else None
  idx = retrieve(config, target, source, backbone)
  parallel = parallel_lib.Parallel(config.parallel)
  model = joint.build_model(config, num_target_classes, num_source_classes,
                            parallel.bn_axis_name)
  variables = joint.init_joint_variables(model, config.data.image_size, config.seed, backbone)
  records = run_rounds(config, parallel, workdir, model, variables, idx, target, test,
                       source, num_target_classes)
  return finish(config, workdir, records, idx, target, source, test)


def run_rounds(config, parallel, workdir, model, variables, idx, target, test, source,
               num_classes, steps=None):
  """All rounds (a finished one is read back, not rerun); returns their records.
  `steps` (joint.make_steps) to reuse compiled steps across calls (the tests)."""
  sel = config.selective
  k = np.minimum(np.full(len(target), sel.k0), idx.neighbours.shape[1])
  steps = steps or joint.make_steps(config, parallel, variables['params'])
  records = []
  for r in range(sel.rounds):
    round_dir = os.path.join(workdir, f'round_{r}')
    smp = make_sampler(config, r, k, idx.neighbours, len(target), len(source))
    state = rounds.train_round(config, parallel, model, variables, steps, smp, target,
                               source, round_dir)
    host = parallel.get_state(state)
    variables = {'params': host.params, 'batch_stats': host.batch_stats}
    predict = lambda split: rounds.predict(config, parallel, steps.predict, state, split)
    record = measure(config, r, k, smp, predict, target, test, num_classes, round_dir)
    records.append(record)
    k = np.minimum(np.asarray(record['k_next']), idx.neighbours.shape[1])
  return records


def measure(config, r, k, smp, predict, target, test, num_classes, round_dir):
  """After round r: Eq. 2-3 on the target training images, accuracy on the test set;
  `predict`: split -> the round's target-head softmax over it."""
  sel = config.selective
  p_train = predict(target)
  ent, pred = mining.entropy(p_train), p_train.argmax(-1)
  hard = mining.hardness(pred, target.labels, ent, sel.delta)
  k_next = mining.update_k(k, pred, target.labels, ent, sel.k0, sel.delta, sel.sigma0,
                           sel.sigma1, sel.k_cap)
  p_test = predict(test)
  top1, mean_class = metrics_lib.accuracies(p_test.argmax(-1), test.labels, num_classes)
  record = {'round': r, 'eval_top1': top1, 'eval_mean_class_acc': mean_class,
            'train_top1': float(np.mean(pred == target.labels)),
            'k': np.asarray(k).tolist(), 'k_next': k_next.tolist(),
            'hardness': hard.tolist(), 'entropy': ent.tolist(),
            'num_hard': {'easy': int(np.sum(hard == mining.EASY)),
                         'unsure': int(np.sum(hard == mining.UNSURE)),
                         'wrong': int(np.sum(hard == mining.WRONG))},
            'source_images_used': smp.num_source_images()}
  if jax.process_index() == 0:
    np.save(os.path.join(round_dir, 'test_probs.npy'), p_test)
    with open(os.path.join(round_dir, 'round.json'), 'w') as f:
      json.dump(record, f)
  logging.info('round %d: test mean class acc %.4f top-1 %.4f | train: %s | %d source images',
               r, mean_class, top1, record['num_hard'], record['source_images_used'])
  return {**record, 'test_probs': p_test}  # (for the ensemble, on every process)


def finish(config, workdir, records, idx, target, source, test) -> dict:
  """summary.json (per round and the ensemble) and the neighbours picture (process 0
  writes them; every process returns the summary)."""
  info = pipeline.load_dataset_info(config.data)
  num_classes = info.num_classes
  probs = np.mean([r['test_probs'] for r in records], axis=0)
  ens_top1, ens_mean = metrics_lib.accuracies(probs.argmax(-1), test.labels, num_classes)
  last = records[-1]
  summary = {
      'method': config.method, 'dataset': config.data.name, 'config_name': config.name,
      'source': config.selective.source.name, 'source_mode': config.selective.source_mode,
      'bank': config.selective.bank,
      'mean_class_acc_per_round': [r['eval_mean_class_acc'] for r in records],
      'top1_per_round': [r['eval_top1'] for r in records],
      'source_images_per_round': [r['source_images_used'] for r in records],
      'ensemble_mean_class_acc': ens_mean, 'ensemble_top1': ens_top1,
      'final_eval_top1': last['eval_top1'],
      'final_eval_mean_class_acc': last['eval_mean_class_acc'],
      'best_eval_top1': max(r['eval_top1'] for r in records),
      # The experiments grid counts a run finished when epochs >= config.num_epochs.
      'rounds': len(records), 'epochs': config.num_epochs}
  if jax.process_index() != 0:
    return summary
  with open(os.path.join(workdir, metrics_lib.SUMMARY), 'w') as f:
    json.dump(summary, f, indent=1)
  figure.neighbours_png(os.path.join(workdir, 'neighbours.png'), idx, target, source,
                        config.selective.show_targets, info.class_names)
  report = write_report(workdir, summary)
  logging.info('selective joint fine-tuning done: %s', report)
  return summary


def write_report(workdir: str, summary: dict) -> str:
  """workdir/report.md: mean class accuracy per round, the ensemble, the picture."""
  rows = [f'| {r + 1} | {100 * a:.2f} | {100 * t:.2f} | {n} |' for r, (a, t, n) in enumerate(
      zip(summary['mean_class_acc_per_round'], summary['top1_per_round'],
          summary['source_images_per_round']))]
  text = '\n'.join([
      f"# {summary['config_name']}: selective joint fine-tuning "
      f"({summary['source_mode']} source {summary['source']}, {summary['bank']} bank)", '',
      '| round | test mean class acc (%) | test top-1 (%) | source images |',
      '|---|---|---|---|', *rows,
      f"| ensemble | {100 * summary['ensemble_mean_class_acc']:.2f} | "
      f"{100 * summary['ensemble_top1']:.2f} | |", '',
      'Target images beside their 1st/10th/20th/30th/40th nearest source images:', '',
      '![neighbours](neighbours.png)', ''])
  path = os.path.join(workdir, 'report.md')
  with open(path, 'w') as f:
    f.write(text)
  print(text, flush=True)
  return path
