#!/usr/bin/env bash
# The wheels the GPU machine's image lacks (it has jax, flax, optax, orbax, numpy, torch, pillow,
# scikit-learn, matplotlib, tqdm, protobuf, pyarrow, ... but reaches no package index), for its
# Python 3.12, into .whl/ (git-ignored). Run here, with network; carry `.whl` to the device.
# Versions are the ones requirements.txt resolves to on the CPU machines.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .whl && mkdir -p .whl
pip_dl() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$@"
}
# requirements.txt's packages missing there, and what they need that is missing too.
pip_dl "ml_collections>=1.1,<2" "tensorflow-datasets>=4.9.10,<5" "array_record>=0.8" \
  "grain>=0.2.18,<0.3" "importlib_resources>=6" dm-tree docstring-parser \
  googleapis-common-protos immutabledict simple-parsing tensorflow-metadata termcolor toml
# promise (a TFDS need) ships only as a source archive: build its pure-Python wheel here.
python3 -m pip wheel -q --no-deps -w .whl promise
du -sh .whl
size=$(du -sm .whl | cut -f1)
[ "$size" -le 64 ] || { echo "wheels are ${size} MiB, over the device's 64 MiB carry limit" >&2; exit 1; }
ls .whl
