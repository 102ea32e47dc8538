"""The study (docs/study.md): when does AdaFilter help, and does its gate choose per example?

  python -m adafilter_jax.apps.study --config configs/study/digits.py --root runs/study

A study config (configs/study/) is a training config with a ``study`` block: source
pretraining lengths x target tasks make the cells, Table 2's methods and the gate's
levers run in each over seeds (`run`, on the experiments grid's `run_grid`), and `tables`
writes the accuracies, paired differences to fine-tuning with t-intervals and the
policy diagnostics (train/policy.py) into ``<root>/study.md``.
"""
