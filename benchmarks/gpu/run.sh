#!/usr/bin/env bash
# The GPU check of the PyTorch engine, run on a lent CUDA machine through the workplace's device tool: the engine's
# tests on CUDA, then the McMahan CNN benchmark (throughput against a plain PyTorch loop, and accuracy).
# That machine has Python with torch but no Node.js and no registry: benchmarks/gpu/pack.sh (run here first) puts
# Node, node_modules, the built packages and Fashion-MNIST in .gpu/, which the call carries.
# Usage (device tool): bash benchmarks/gpu/run.sh [tests|bench|train|all]   results land in $OUT
set -uo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

if [ ! -x /tmp/gpu-node/bin/node ]; then
  stamp unpacking
  mkdir -p /tmp/gpu-node/bin
  if command -v node >/dev/null && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    ln -sf "$(command -v node)" /tmp/gpu-node/bin/node
  else
    xz -dc .gpu/node.xz >/tmp/gpu-node/bin/node && chmod +x /tmp/gpu-node/bin/node
  fi
fi
export PATH=/tmp/gpu-node/bin:$PATH
if [ ! -d node_modules/vitest ] && [ -f .gpu/nm.tar.xz ]; then tar -xJf .gpu/nm.tar.xz; fi
if [ -f .gpu/dist.tar.xz ]; then tar -xJf .gpu/dist.tar.xz; fi
if [ -d .gpu/data ] && [ ! -f /tmp/gpu-data/fashion-mnist/t10k-labels-idx1-ubyte ]; then
  mkdir -p /tmp/gpu-data/fashion-mnist
  for f in .gpu/data/*; do
    case "$f" in
      *.xz) xz -dc "$f" >"/tmp/gpu-data/fashion-mnist/$(basename "${f%.xz}")" ;;
      *) cp "$f" /tmp/gpu-data/fashion-mnist/ ;;
    esac
  done
fi
export WEFT_DATA=/tmp/gpu-data
node --version
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
python3 -c 'import torch, numpy; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available(), "numpy", numpy.__version__)'
ls -la /tmp/gpu-data/fashion-mnist 2>/dev/null

if [ "$what" = tests ] || [ "$what" = all ]; then
  stamp "engine tests on CUDA"
  WEFT_TORCH_TEST_DEVICE=${DEVICE:-cuda} CI=true timeout 180 node node_modules/vitest/vitest.mjs run packages/runtime-torch 2>&1 | tee "$OUT/tests-cuda.log" | tail -40
fi
if [ "$what" = train ] || [ "$what" = all ]; then
  stamp "McMahan CNN accuracy, CUDA"
  timeout 150 node packages/cli/dist/bin.js train --model cnn-mcmahan --dataset fashion-mnist --runtime torch --device ${DEVICE:-cuda} \
    --epochs 5 --optimizer adam --lr 0.001 --seed 0 --json >"$OUT/train-cuda.json" 2>"$OUT/train-cuda.err"
  echo "exit $?"; tail -c 1500 "$OUT/train-cuda.json"; tail -5 "$OUT/train-cuda.err"
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  stamp "throughput: Weft torch engine against plain PyTorch, CUDA"
  for bs in 32 256; do
    timeout 200 node benchmarks/runtime-torch.mjs --device ${DEVICE:-cuda} --threads 1 --reps 2 --no-tfjs --batch-size $bs \
      --models mlp,cnn-lenet,cnn-mcmahan --examples mlp=60000,cnn-lenet=60000,cnn-mcmahan=60000 2>&1 | tee "$OUT/bench-cuda-bs$bs.log" | tail -8
  done
fi
stamp done
