#!/bin/bash
# Packs what a GPU machine needs to run the GPU checks with no network: this Node binary, the UCX
# that build-ucx-cuda.sh made (plus libcudart), and the built project (node_modules without the
# build-only packages, dist/, the addon, the C peer). Output: .gpu/ (git-ignored), ~32 MB.
set -euo pipefail
PREFIX=${PREFIX:-/tmp/ucx-cuda}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
[ -x "$PREFIX/bin/ucx_info" ] || { echo "no UCX in $PREFIX: run scripts/gpu/build-ucx-cuda.sh first" >&2; exit 1; }
[ -f build/Release/node_ucx.node ] && [ -d dist ] || { echo "build the project first (npm run setup)" >&2; exit 1; }
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/ucx"
cp -a "$PREFIX/bin" "$PREFIX/lib" "$stage/ucx/"
find "$stage/ucx" \( -name '*.a' -o -name '*.la' \) -delete
rm -rf "$stage/ucx/lib/pkgconfig"
cp -a "$CUDA_HOME"/lib64/libcudart.so.[0-9]* "$stage/ucx/lib/"
strip --strip-unneeded "$stage"/ucx/lib/*.so.*.*.* "$stage"/ucx/lib/ucx/*.so.*.*.* "$stage"/ucx/bin/* 2>/dev/null || true
tar -C "$stage" -cf - ucx | xz -T0 -6 > .gpu/ucx.tar.xz
tar --exclude=node_modules/typescript --exclude=node_modules/node-gyp --exclude=node_modules/@types \
  -cf - node_modules dist build/Release/node_ucx.node test/interop/fixtures/bin | xz -T0 -6 > .gpu/app.tar.xz
[ -f .gpu/node.xz ] && [ .gpu/node.xz -nt "$(command -v node)" ] || xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
cp scripts/gpu/device-run.sh .gpu/
du -ch .gpu/* | tail -1
echo "device: bash .gpu/device-run.sh   (carry .gpu)"
