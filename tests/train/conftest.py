"""Training tests compile the same tiny models many times: XLA's persistent cache turns
every repeat (and every later test session) into a cache hit."""
import os
import tempfile

import jax

jax.config.update('jax_compilation_cache_dir',
                  os.path.join(tempfile.gettempdir(), 'adafilter_test_jax_cache'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)
