"""The paper's recipe (docs/method.md), shared by every dataset config.

Not run on its own: a dataset config sets ``data.name`` and ``name``. Every choice the
paper leaves open is a field here, with the default of docs/method.md and where it comes from.
Override anything from the command line, e.g.
  python main.py --config configs/caltech256_30.py --config.method=finetune
(workdir runs/caltech256_30/finetune/seed_0 by default).
"""
from typing import Dict, Optional

import ml_collections
from ml_collections import config_dict

from adafilter_jax.methods import paper_numbers
from adafilter_jax.data.config import get_data_config


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = ''                   # the config's name: in the default workdir, summaries
  c.method = 'adafilter'        # adafilter_jax.methods: 'adafilter', 'finetune', ...
  c.seed = 0

  # The backbone: models.backbone's arguments, the model built as
  # backbone(num_classes=..., **c.model) (and AdaFilter's from c.adafilter as well).
  c.model = ml_collections.ConfigDict()
  c.model.arch = 'resnet50'     # the paper's backbone (torchvision's ImageNet ResNet-50);
  # also resnet18/34/101/152, resnet26 (the Decathlon's), and resnet10/14, one block a
  # stage and no ImageNet weights, for runs of seconds (models/archs.py)
  c.model.width = 64            # stem channels; 64 = torchvision (tests and the demo shrink it)
  c.model.dtype = 'float32'     # compute dtype; params stay float32
  # How convs are computed (docs/speed.md): 'xla' (lax.conv), or 'mixed' (1x1 convs as
  # matmuls: a faster backward on CPU). Same numbers, tested.
  c.model.conv_impl = 'xla'
  # How the new head starts: 'torch' (torch.nn.Linear's U(+-1/sqrt(fan_in)), as the
  # paper's PyTorch code), 'flax' (lecun_normal, zero bias), 'zeros' (BiT). docs/method.md.
  c.model.head_init = 'torch'
  # Recompute each residual block's activations in the backward pass instead of keeping
  # them (nn.remat): less memory for one more forward per step; same numbers, tested.
  # Not part of a run's identity: a run may resume with it switched (docs/training.md).
  c.model.remat = False
  # Train each conv + BN pair (and AdaFilter's gated pairs: F, S, both BNs and the mix) as
  # one lean unit (models/lean.py) whose backward keeps only x, the conv outputs, the gate
  # and the statistics (docs/speed.md, "Per-unit account"): same numbers, tested; less
  # memory. Test time and a user's own model's fine-tuning are unchanged by it.
  c.model.lean_units = False
  # The pretrained weights: torchvision's original ImageNet ResNet-50 as timm mirrors it on
  # the Hugging Face Hub (fetched, SHA-256 checked and converted on first use, no torch;
  # HF_HUB_OFFLINE=1 reads the cache only), or a directory of converted weights
  # (python -m adafilter_jax.weights.convert ...); '' trains from scratch (the demo's source).
  c.pretrained = 'hf-hub:timm/resnet50.tv_in1k'

  # A user's own linen model instead of the ResNet above (docs/own_model.md): '' = the
  # ResNet; else 'package.module:Name', a Module class or a function returning one, built
  # as Name(**kwargs, <num_classes_arg>=<the dataset's classes>); its weights (an orbax
  # directory, .msgpack or .safetensors of model.init's variables) are those of the
  # whole network but `head` (its head's module path, which starts fresh); train_flag:
  # how it learns it trains ('auto': a `train` or `deterministic` argument, else a
  # mutable `batch_stats`). Methods: finetune and adafilter.
  c.own_model = ml_collections.ConfigDict()
  c.own_model.cls = ''
  c.own_model.kwargs = '{}'  # JSON
  c.own_model.num_classes_arg = 'num_classes'
  c.own_model.head = ''
  c.own_model.weights = ''
  c.own_model.train_flag = 'auto'
  # AdaFilter's plan (which convs are gated, the norm each feeds): '' = recorded from the
  # model and saved in the workdir as adafilter_plan.json; else such a file, edited.
  c.own_model.plan = ''

  # AdaFilter's model (models.adafilter_resnet reads this block as it is).
  c.adafilter = ml_collections.ConfigDict()
  c.adafilter.gate = 'lstm'     # the paper's recurrent gate; 'cnn' = Table 4, 'random' = Table 2
  # Which convs are gated: every one, stem and projections included; 'blocks' (not the
  # stem, not the projections); or layer-name prefixes, e.g. 'layer3,layer4'.
  c.adafilter.gated_layers = 'all'
  c.adafilter.gated_bn = True   # Eq. 5, one BN per branch; False = Eq. 6 (Table 3)
  # Gated BN's batch statistics: over the whole batch, or 'selected' (only the examples
  # whose gate picked the branch; a branch nobody picked: the whole batch's).
  c.adafilter.bn_stats = 'batch'
  c.adafilter.ste_through_sigmoid = False  # Eq. 2: identity to the pre-sigmoid logit
  c.adafilter.embed_dim = 128   # not in the paper
  c.adafilter.hidden_dim = 128  # not in the paper
  # How the gate's layers start: 'torch' (torch.nn.Linear / LSTMCell defaults, as the
  # paper's PyTorch code) or 'flax'. docs/method.md.
  c.adafilter.gate_init = 'torch'
  # Levers the paper leaves open (docs/study.md measures them); the defaults are the
  # paper's reading. The LSTM gate's pooled input: 'none' (the paper), 'layer' (LayerNorm
  # per example) or 'batch' (BatchNorm over the batch: only what differs between images).
  c.adafilter.gate_input_norm = 'none'
  # The gate heads' initial bias; None draws it as gate_init says (U(+-1/sqrt(hidden)) for
  # 'torch'): a positive value starts the gate fine-tuning every filter, negative reusing.
  c.adafilter.gate_head_bias = config_dict.placeholder(float)
  c.adafilter.gate_arch = 'resnet18'  # the CNN gate's trunk (Table 4)
  c.adafilter.gate_width = 64
  # ImageNet weights of the CNN gate's trunk (as config.pretrained); '' trains it from scratch.
  c.adafilter.gate_pretrained = ''
  c.adafilter.random_p = 0.5    # the random policy's Bernoulli(p)
  # Test time (docs/speed.md), each tested equal to 'two_branch': one conv per layer of
  # gate-mixed, BN-folded kernels, 'fused' in the layers where that is faster on CPU,
  # 'fused_all' in every layer (per-example matmuls).
  c.adafilter.eval_impl = 'two_branch'
  # With model.lean_units: where a gated unit's backward recomputes S(x) from x rather than
  # keep it (one more conv of S, S(x)'s bytes fewer kept; docs/speed.md): 'expanding'
  # where S(x) is larger than x (each bottleneck's last 1x1, widening projections),
  # 'all', or 'none'.
  c.adafilter.recompute_s = 'expanding'

  c.data = get_data_config()
  # The dataset's class count is used; set this to assert it (a head size check).
  c.num_classes = config_dict.placeholder(int)

  c.batch_size = 64             # global, over all devices and hosts (paper: 64)
  # Gradient accumulation: each step runs batch_size / grad_accum_steps examples at a
  # time and applies the mean gradient once, so memory is that of the smaller batch.
  # Steps, the LR schedule and checkpoints count optimizer updates (unchanged); BN
  # normalises each micro-batch with its own statistics (docs/training.md, "Memory").
  c.grad_accum_steps = 1
  c.eval_batch_size = 64
  c.num_epochs = 110            # paper: 110
  c.optim = ml_collections.ConfigDict()
  c.optim.lr = 0.01             # the network's rate (paper)
  c.optim.gate_lr = 0.1         # the gate's: 10x (paper)
  c.optim.head_lr = config_dict.placeholder(float)  # None: the network's (docs/method.md)
  c.optim.momentum = 0.9        # paper
  c.optim.nesterov = False      # paper; TLlib's recipe (methods/schedules.py): True
  c.optim.weight_decay = 1e-4   # docs/method.md: conv/dense kernels of network and head only
  c.optim.decay_epochs = (30, 60, 90)  # paper: three decays
  c.optim.decay_factor = 0.1    # not in the paper: the usual reading

  c.parallel = 'pmap'           # 'pmap' over local devices, or 'jit' (mesh + NamedSharding)
  c.log_every_steps = 10        # how often the loss is fetched (NaN check, progress bar)
  c.progress_bar = True
  # Each epoch's metrics.jsonl record (and the report's figures) also as TensorBoard
  # events in the workdir, written without TensorFlow: tensorboard --logdir runs
  c.tensorboard = True
  # A Weights & Biases project to log the same to ('' = off; needs pip install wandb).
  c.wandb = ''
  # Train steps (optimizer updates, from 1) to trace with jax.profiler into the workdir,
  # for TensorBoard's Profile tab or Perfetto, e.g. --config.profile_steps='(11,12,13)';
  # consecutive steps share one trace. Empty: no trace.
  c.profile_steps = ()
  # The evaluations run after every epoch and by --mode=eval, by name: modules of
  # adafilter_jax/train/evaluators/ (accuracy, gate_fraction, policy, test).
  c.evaluators = ('accuracy', 'gate_fraction', 'policy', 'test')
  # The paper's top-1 (%) on this dataset per recipe (adafilter_jax/methods/paper_numbers.py), for reports.
  c.paper_top1 = ml_collections.ConfigDict()
  return c


def for_dataset(name: str) -> ml_collections.ConfigDict:
  """The recipe on dataset `name` (a key of adafilter_jax.data.datasets), which also
  names the config; `paper_top1` is the published column for it."""
  c = get_config()
  c.name = c.data.name = name
  c.paper_top1 = ml_collections.ConfigDict(paper_numbers.on_dataset(name))
  return c


def parse_arg(arg: Optional[str], **defaults: str) -> Dict[str, str]:
  """The argument of a config file that stands for a family (``--config FILE:ARG``, as
  big_vision's configs take it): ``key=value,key=value`` over `defaults`; a lone value
  sets the first key (``FILE:cubs``). A key not in `defaults` is an error naming them."""
  values = dict(defaults)
  for item in (arg or '').split(','):
    key, eq, value = item.partition('=')
    key, value = (key.strip(), value.strip()) if eq else (next(iter(defaults)), key.strip())
    if key not in defaults:
      raise ValueError(f'config argument {item!r}: no key {key!r}; give '
                       + ','.join(f'{k}=...' for k in defaults))
    if value:
      values[key] = value
  return values
