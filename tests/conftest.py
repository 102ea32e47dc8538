"""The test session's shared set-up. The tests compile the same tiny models many times
(and subprocesses compile them again): XLA's persistent compilation cache turns every
repeat, within a session and in later ones, into a cache hit."""
import os
import tempfile

import jax

jax.config.update('jax_compilation_cache_dir',
                  os.path.join(tempfile.gettempdir(), 'adafilter_test_jax_cache'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)
