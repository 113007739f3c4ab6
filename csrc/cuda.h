// Run-time CUDA runtime loader for node-ucx/cuda (tests, examples, ucx-bench --mem cuda):
// dlopen("libcudart.so") on demand, so the addon has no build-time CUDA dependency. Not a UCP
// object: a small utility the GPU suite needs to allocate and fill device memory.
#pragma once
#include <napi.h>

namespace nucx {

void DefineCuda(Napi::Env env, Napi::Object exports);

}  // namespace nucx
