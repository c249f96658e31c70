#!/usr/bin/env bash
# Packs what benchmarks/gpu/run.sh needs on a device machine that has no Node.js and no registry into .gpu/ (git
# ignores it): this Node binary, node_modules without the build-only tools, the built packages and Fashion-MNIST.
# The device tool carries at most 64 MiB with the working tree, so everything is xz-compressed.
# Usage: npm run build && bash benchmarks/gpu/pack.sh [--no-data]
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu
[ -f .gpu/node.xz ] || xz -T2 -6 -c "$(command -v node)" >.gpu/node.xz
tar --exclude='node_modules/@biomejs' --exclude='node_modules/@bufbuild/buf-linux-x64' \
  --exclude='node_modules/@bufbuild/protoplugin' --exclude='node_modules/typescript' --exclude='node_modules/playwright-core' \
  --exclude='node_modules/@types' --exclude='node_modules/cytoscape' --exclude='node_modules/lightningcss*' \
  --exclude='node_modules/better-sqlite3/deps' --exclude='node_modules/better-sqlite3/src' \
  --exclude='node_modules/better-sqlite3/build/Release/obj*' --exclude='node_modules/better-sqlite3/build/Release/.deps' \
  --exclude='node_modules/better-sqlite3/build/Release/test_extension.node' \
  --exclude='*.map' --exclude='*.d.ts' --exclude='*.md' --exclude='*_test.js' --exclude='*.es2017*' --exclude='*.fesm*' \
  --exclude='*.min.js' --exclude='miniprogram' \
  -cf - node_modules | xz -T2 -6 >.gpu/nm.tar.xz
--exclude='*.d.ts' -cf - packages/*/dist packages/node/dashboard | xz -T2 -6 >.gpu/dist.tar.xz
if [ "${1:-}" != --no-data ]; then
  mkdir -p .gpu/data
  src=${WEFT_DATA_DIR:-/usr/share/datasets/fashion-mnist}
  for f in train-images-idx3-ubyte t10k-images-idx3-ubyte; do
    [ -f ".gpu/data/$f.xz" ] || gzip -dc "$src/$f.gz" | xz -T2 -9 >".gpu/data/$f.xz"
  done
  cp "$src/train-labels-idx1-ubyte.gz" "$src/t10k-labels-idx1-ubyte.gz" .gpu/data/
fi
du -ch .gpu/* .gpu/data/* 2>/dev/null | sort -h
