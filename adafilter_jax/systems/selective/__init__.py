"""Selective joint fine-tuning (Ge & Yu, CVPR 2017), docs/selective.md.

Retrieval (one module per piece): the filter banks (gabor.py, cnn_bank.py), the
equal-mass histogram descriptor (descriptor.py), the symmetric-KL distance as a matrix
product with chunked top-k (distance.py), the on-disk index (index.py). Training: the
hard-sample mining of Eqs. 2-3 (mining.py), the neighbour sampler (sampler.py), the joint
two-head model and step (joint.py), the rounds (run.py).
"""
