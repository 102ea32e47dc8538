#!/usr/bin/env bash
# One prepared run on a lent GPU machine (no package index there), in priority order, each
# step under its own time limit so that a slow compile loses only that step. Results go to
# $OUT (the device tool brings them back). From the repository root, after
# benchmarks/gpu/wheels.sh here, with `.whl` carried:
#   bash benchmarks/gpu/run.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1
# Cold AdaFilter ResNet-50 compiles take one to two minutes; the cache makes reruns cheap.
export JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
step() {  # step NAME SECONDS COMMAND...: time-limited, its output kept in $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  echo "== $name ($(date -u +%FT%TZ), limit ${limit}s)" | tee -a "$OUT/steps.log"
  /usr/bin/time -f "$name: %e s wall, %M KB max RSS" -a -o "$OUT/steps.log" \
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "$name: exit $?" | tee -a "$OUT/steps.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
step devices 60 python3 -c "import jax; print(jax.__version__, jax.devices())"
# 1. The main job end to end on the GPU: the offline demo (its numbers beside the CPU's).
step demo 240 python3 main.py --config configs/demo.py --workdir /tmp/demo \
  --config.progress_bar=False
# 2. bf16 on the same demo: does the gate decide alike, is accuracy within seed noise?
step demo_bf16 180 python3 main.py --config configs/demo.py --workdir /tmp/demo_bf16 \
  --config.model.dtype=bfloat16 --config.progress_bar=False
# 3. The lean units (issue 34's goals): peak memory and train step, both sides lean, and
#    with S(x) recomputed, against today's plain fine-tuning.
step memory_lean 240 python3 -m adafilter_jax.apps.bench.memory --settings plain \
  --variants ft,ft_lean,ada_lean_keep,ada_lean,ada_lean_rs --batch 64
step lean64 240 python3 -m adafilter_jax.apps.bench.steps --res 224 --batch 64 --rounds 3 \
  --variants ft:train,ft_lean:train,ada_lean_keep:train,ada_lean:train,ada_lean_rs:train
# 4. Train and eval steps at batch 64, 224 px, side by side in one process.
step bench64 240 python3 -m adafilter_jax.apps.bench.steps --res 224 --batch 64 --rounds 3 \
  --dtype float32,bfloat16 --variants ft,ada,ada_fused_all:eval,torch
# 5. Test-time latency at batch 1 (the serving case): two-branch vs one fused conv a layer.
step bench1 150 python3 -m adafilter_jax.apps.bench.steps --res 224 --batch 1 --rounds 3 \
  --variants ft:eval,ada:eval,ada_fused:eval,ada_fused_all:eval
# 6. Peak memory of each memory setting (remat, accumulation, bf16), compiled on the GPU.
step memory 420 python3 -m adafilter_jax.apps.bench.memory
cp /tmp/demo/report/report.md "$OUT/demo_report.md" 2>/dev/null
cp /tmp/demo_bf16/report/report.md "$OUT/demo_bf16_report.md" 2>/dev/null
cat "$OUT/steps.log"
