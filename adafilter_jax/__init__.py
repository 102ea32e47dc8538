"""AdaFilter (AAAI 2020), SpotTune (CVPR 2019) and Selective Joint Fine-tuning (CVPR 2017)
in JAX/Flax.

The folders are the layers, from the bottom; a module imports only from its own floor or
below (tests/test_layers.py holds the order and checks every import):

  models, data   the networks (torchvision-exact ResNets, AdaFilter, SpotTune) and the
                 TFDS/grain input pipeline
  weights        pretrained weights: converters, loading into any model
  methods        the method registry: how a method builds, labels and regularises
  train          the training loop and its parts
  systems        built on training: selective joint fine-tuning, global-k, the Decathlon
  inference      after training: restore, evaluate, predict, export, serve
  apps           the job table, the grid, the report, benchmarks, demos, fault injection
"""
