{
  # UCX is found through UCX_HOME (a custom or CUDA-enabled build) or pkg-config.
  # scripts/setup.mjs checks for it first and says what to install when it is missing.
  "variables": {
    "ucx_home%": "<!(node -p \"process.env.UCX_HOME || ''\")",
    # The optional PMIx addon (csrc/pmix/) is built where pkg-config finds pmix (libpmix-dev).
    "has_pmix%": "<!(node scripts/has-pmix.mjs)"
  },
  "targets": [
    {
      "target_name": "node_ucx",
      "sources": [
        "csrc/addon.cc",
        "csrc/status.cc",
        "csrc/context.cc",
        "csrc/worker.cc",
        "csrc/progress.cc",
        "csrc/completion.cc",
        "csrc/batch.cc",
        "csrc/fastpath.cc",
        "csrc/probe.cc",
        "csrc/events.cc",
        "csrc/listener.cc",
        "csrc/endpoint.cc",
        "csrc/request.cc",
        "csrc/memory.cc",
        "csrc/cuda.cc",
        "csrc/util/sockaddr.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=9", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      # -z now: every symbol (UCX's, and the V8 ones request.cc uses) is bound when the addon is
      # loaded, so a binary that does not fit this Node or this UCX fails to load (and the loader
      # falls back) instead of dying at its first call with "symbol lookup error".
      "ldflags": ["-Wl,-z,now"],
      # No -std here: node-gyp's common.gypi picks the standard Node's headers need (gnu++17 for
      # Node 20 and 22, gnu++20 for Node 24, whose v8.h refuses anything older); csrc/ is C++17.
      "cflags_cc": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "conditions": [
        ["ucx_home != ''", {
          "include_dirs": ["<(ucx_home)/include"],
          "libraries": ["-L<(ucx_home)/lib", "-Wl,-rpath,<(ucx_home)/lib", "-lucp", "-luct", "-lucs", "-ldl"]
        }, {
          "cflags_cc": ["<!@(pkg-config --cflags ucx)"],
          "libraries": ["<!@(pkg-config --libs ucx)", "-ldl"]
        }]
      ]
    }
  ],
  "conditions": [
    ["has_pmix == 1", {
      "targets": [
        {
          "target_name": "node_ucx_pmix",
          "sources": ["csrc/pmix/pmix.cc"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=9", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
          "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags pmix)"],
          "libraries": ["<!@(pkg-config --libs pmix)"]
        }
      ]
    }]
  ]
}
