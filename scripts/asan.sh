#!/usr/bin/env bash
# R8: runs test files against an AddressSanitizer build of the addon.
#   scripts/asan.sh [vitest args...]     e.g. scripts/asan.sh test/core
# The instrumented addon is built into build-asan/ (the normal build is untouched) and loaded
# through NODE_UCX_ADDON; node itself is not instrumented, so libasan is preloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/setup.mjs --quiet
work=build-asan
if [ ! -f "$work/build/Release/node_ucx.node" ] || [ -n "$(find csrc binding.gyp -newer "$work/build/Release/node_ucx.node" 2>/dev/null | head -1)" ]; then
  rm -rf "$work" && mkdir -p "$work"
  cp -r binding.gyp csrc "$work"/
  ln -s "$PWD/node_modules" "$work/node_modules"
  (cd "$work" && CXXFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1" LDFLAGS="-fsanitize=address" \
    node ../node_modules/node-gyp/bin/node-gyp.js rebuild -j max \
      $(node -e "import('../scripts/setup.mjs').then((m) => console.log(m.nodedirArgs().join(' ')))") >/dev/null)
fi
export NODE_UCX_ADDON="$PWD/$work/build/Release/node_ucx.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
# Leaks are not checked: node and V8 keep allocations until exit by design.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:verify_asan_link_order=0"
exec npx vitest run "$@"
