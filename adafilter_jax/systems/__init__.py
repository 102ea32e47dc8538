"""Systems built on training: Selective Joint Fine-tuning (selective/), SpotTune's global-k
policy from a trained run (global_k.py), and the Visual Decathlon score (decathlon.py)."""
