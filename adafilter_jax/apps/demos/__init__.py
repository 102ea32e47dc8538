"""The offline demos: transfer on the digits (digits.py), selective joint fine-tuning on
them (selective.py), and the check that keeps the README's figures true (check.py)."""
