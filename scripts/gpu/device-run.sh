#!/bin/bash
# The GPU check, run on the GPU machine from a copy of the repository that carries .gpu/ (pack.sh):
# unpacks Node and the CUDA-enabled UCX, then runs the GPU suite, the --mem cuda CLI test, the core
# and RMA suites on that UCX, and a --compare table of device-memory messaging. Logs go to $OUT.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"; export OUT
tools=/tmp/gpucheck; mkdir -p $tools/bin
step() { echo; echo "=== $* ($(date +%T))"; }

step unpack
# python3's lzma and tarfile: the GPU image may lack xz.
python3 - <<'PY'
import lzma, os, shutil, tarfile
shutil.copyfileobj(lzma.open('.gpu/node.xz'), open('/tmp/gpucheck/bin/node', 'wb'))
os.chmod('/tmp/gpucheck/bin/node', 0o755)
if not os.path.isdir('/tmp/ucx-cuda'):
    tarfile.open('.gpu/ucx.tar.xz').extractall('/tmp/gpucheck')
    os.rename('/tmp/gpucheck/ucx', '/tmp/ucx-cuda')
tarfile.open('.gpu/app.tar.xz').extractall('.')
PY
export PATH=$tools/bin:/tmp/ucx-cuda/bin:$PATH
export LD_LIBRARY_PATH=/tmp/ucx-cuda/lib:${LD_LIBRARY_PATH:-}:/usr/local/nvidia/lib64:/usr/local/nvidia/lib
export UCX_MODULE_DIR=/tmp/ucx-cuda/lib/ucx

step machine
nvidia-smi -L 2>&1; uname -r; node -v; nproc
ucx_info -v | head -1
ldd /tmp/ucx-cuda/lib/ucx/libuct_cuda.so | grep -E "libcuda|nvidia-ml"
ucx_info -d 2>&1 | grep -E "Transport: cuda"
node --input-type=module -e '
import { Context, version } from "node-ucx";
import * as cuda from "node-ucx/cuda";
const context = new Context();
console.log("node-ucx", version, "memoryTypes", context.memoryTypes, "cuda", cuda.available());
context.close();'

step tests
timeout 300 node node_modules/vitest/vitest.mjs run --root . --config scripts/gpu/vitest.gpu.config.ts \
  test/gpu test/cli test/core test/rma 2>&1 | tee "$OUT/tests.log" | grep -vE "^ +✓|^\[[0-9.]+\]" | tail -40

step bench
bench() { echo "--- $*"; timeout 150 node dist/cli/ucx-bench.js --compare --markdown "$@" 2>&1 | tee -a "$OUT/bench.md" | grep -vE "^\[[0-9.]+\]"; }
bench --mem cuda --error-handling none -t tag_lat,tag_bw,ep_bw,stream_bw,am_bw -s 8,64K,1M,4M
bench --mem cuda --error-handling peer -t tag_lat,tag_bw -s 8,1M
step done
