"""Benchmarks, each a command: the train and eval steps beside a torch peer (steps.py,
torch_peer.py), the input pipeline (data.py), the selective retrieval (selective.py)."""
