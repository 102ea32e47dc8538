"""After training: a run's model back from its workdir (restore.py), evaluated again
(evaluate.py), classifying images (predict.py), exported with `jax.export` (export.py) and
run without the model code (serving.py)."""
