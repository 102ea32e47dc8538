"""Training: the loop (loop.py) and its parts, one module each: the train state, the
optimizer, the steps, data parallelism, checkpoints, metrics files, start-up checks, the
config files by path (config_files.py). Importing the package imports none of them."""
