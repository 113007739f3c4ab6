#!/bin/bash
# Builds UCX --with-cuda from Debian's own UCX source (the version libucx-dev has, so the addon built
# against libucx-dev runs on it unchanged) into $PREFIX, for the GPU checks (scripts/gpu/README.md).
# Needs root (apt), a CUDA toolkit at $CUDA_HOME, and no GPU: where the driver's libcuda/libnvidia-ml
# and nvml.h are missing, link stubs and nvml-shim.h stand in; the real libraries load at run time.
set -euo pipefail
PREFIX=${PREFIX:-/tmp/ucx-cuda}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
WORK=${WORK:-/tmp/ucx-cuda-build}
here=$(cd "$(dirname "$0")" && pwd)

[ -f "$CUDA_HOME/include/cuda.h" ] || { echo "no CUDA toolkit at $CUDA_HOME (set CUDA_HOME)" >&2; exit 1; }
apt-get install -y -qq autoconf automake libtool dpkg-dev >/dev/null
mkdir -p "$WORK" && cd "$WORK"
if [ ! -d ucx-src ]; then
  # Debian's sources list has deb lines only; a temporary deb-src copy fetches the source package.
  list=/etc/apt/sources.list.d/node-ucx-src.sources
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$list"
  trap 'rm -f "$list"; apt-get update -qq >/dev/null 2>&1 || true' EXIT
  apt-get update -qq
  apt-get source --download-only "ucx=$(dpkg-query -W -f='${Version}' libucx-dev)"
  mkdir ucx-src && tar -C ucx-src --strip-components=1 -xf ucx_*.orig.tar.*
  tar -C ucx-src -xf ucx_*.debian.tar.*
  # configure.ac names files of upstream's debian/ directory that the Debian packaging replaced.
  for f in ucx-src/debian.upstream/*; do [ -e "ucx-src/debian/$(basename "$f")" ] || cp -r "$f" ucx-src/debian/; done
fi

# Stand-ins for what only a driver install provides, each with the real soname.
shim="$WORK/shim"; mkdir -p "$shim/include" "$shim/lib"
[ -f "$CUDA_HOME/include/nvml.h" ] || cp "$here/nvml-shim.h" "$shim/include/nvml.h"
cuda_symbols="cuDeviceGetUuid cuCtxGetCurrent cuCtxGetDevice cuDeviceGet cuDeviceGetAttribute cuDeviceGetCount
  cuDeviceGetName cuDeviceGetUuid_v2 cuDeviceTotalMem_v2 cuEventCreate cuEventQuery cuEventRecord cuGetErrorString
  cuIpcCloseMemHandle cuIpcGetMemHandle cuIpcOpenMemHandle_v2 cuMemAllocManaged cuMemAlloc_v2 cuMemFree_v2
  cuMemGetAddressRange_v2 cuMemcpyDtoDAsync_v2 cuPointerGetAttribute cuPointerGetAttributes cuPointerSetAttribute
  cuStreamAddCallback cuStreamCreate cuStreamDestroy_v2"
nvml_symbols="nvmlInit nvmlInit_v2 nvmlShutdown nvmlErrorString nvmlDeviceGetHandleByIndex_v2 nvmlDeviceGetFieldValues
  nvmlDeviceGetNvLinkRemotePciInfo_v2"
stub() {  # stub SONAME LINKNAME SYMBOLS...
  local soname=$1 name=$2; shift 2
  for s in "$@"; do echo "int $s(void) { return 0; }"; done > "$shim/$name.c"
  gcc -shared -fPIC -Wl,-soname,"$soname" -o "$shim/lib/$name.so" "$shim/$name.c"
}
ldconfig -p | grep -q 'libcuda.so.1 ' || stub libcuda.so.1 libcuda $cuda_symbols
ldconfig -p | grep -q 'libnvidia-ml.so.1 ' || stub libnvidia-ml.so.1 libnvidia-ml $nvml_symbols

cd "$WORK/ucx-src"
[ -x configure ] || ./autogen.sh >/dev/null
./configure --prefix="$PREFIX" --with-cuda="$CUDA_HOME" CPPFLAGS="-I$shim/include" LDFLAGS="-L$shim/lib" \
  --without-verbs --without-rdmacm --without-knem --without-xpmem --without-rocm --without-gdrcopy \
  --without-go --without-java --disable-doxygen-doc --disable-logging --disable-debug --disable-assertions \
  --disable-params-check --enable-mt --enable-cma >/dev/null
grep -q '#define HAVE_CUDA 1' config.h || { echo "configure did not enable CUDA" >&2; exit 1; }
# The libraries and tools only: UCX 1.13's test programs do not build against CUDA 13's cuCtxCreate.
for dir in src/ucm src/ucs src/uct src/ucp src/tools/info src/tools/perf; do
  make -C "$dir" -j"$(nproc)" >/dev/null
  make -C "$dir" install >/dev/null
done
echo "UCX $("$PREFIX/bin/ucx_info" -v | sed -n 's/# Version //p') with CUDA in $PREFIX"
