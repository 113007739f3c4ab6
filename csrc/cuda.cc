#include "cuda.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "request.h"
#include "status.h"

namespace nucx {
namespace {

// The few runtime entry points used; cudaError_t is an int, 0 = cudaSuccess.
struct CudaRuntime {
  int (*GetDeviceCount)(int*) = nullptr;
  int (*RuntimeGetVersion)(int*) = nullptr;
  int (*Malloc)(void**, size_t) = nullptr;
  int (*MallocManaged)(void**, size_t, unsigned) = nullptr;
  int (*Free)(void*) = nullptr;
  int (*Memcpy)(void*, const void*, size_t, int) = nullptr;
  const char* (*GetErrorName)(int) = nullptr;
  const char* (*GetErrorString)(int) = nullptr;
  std::string library;
  bool loaded = false;
};

// Process-wide: a shared library is loaded once per process, whatever the thread.
CudaRuntime runtime;
std::mutex runtime_mutex;

template <typename T>
bool Resolve(void* handle, const char* name, T* out) {
  *out = reinterpret_cast<T>(dlsym(handle, name));
  return *out != nullptr;
}

bool ThrowCudaError(Napi::Env env, int error, const char* call) {
  if (error == 0) return false;
  std::string message = std::string(call) + ": " + runtime.GetErrorString(error);
  ThrowCoded(env, runtime.GetErrorName(error), message.c_str());
  return true;
}

bool RequireLoaded(Napi::Env env) {
  if (runtime.loaded) return true;
  ThrowCoded(env, "ERR_UCX_CUDA_UNAVAILABLE", "the CUDA runtime is not loaded (call cudaLoad first)");
  return false;
}

// cudaLoad(candidates: string[]): { ok, reason, library?, devices?, runtimeVersion? } -> dlopen +
// cudaGetDeviceCount
Napi::Value CudaLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(runtime_mutex);
  Napi::Object result = Napi::Object::New(env);
  std::string reasons;
  if (!runtime.loaded) {
    Napi::Array candidates = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < candidates.Length() && !runtime.loaded; i++) {
      std::string name = candidates.Get(i).As<Napi::String>();
      void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        reasons += (reasons.empty() ? "" : "; ") + name + ": " + dlerror();
        continue;
      }
      CudaRuntime candidate;
      if (!Resolve(handle, "cudaGetDeviceCount", &candidate.GetDeviceCount) ||
          !Resolve(handle, "cudaRuntimeGetVersion", &candidate.RuntimeGetVersion) ||
          !Resolve(handle, "cudaMalloc", &candidate.Malloc) ||
          !Resolve(handle, "cudaMallocManaged", &candidate.MallocManaged) ||
          !Resolve(handle, "cudaFree", &candidate.Free) ||
          !Resolve(handle, "cudaMemcpy", &candidate.Memcpy) ||
          !Resolve(handle, "cudaGetErrorName", &candidate.GetErrorName) ||
          !Resolve(handle, "cudaGetErrorString", &candidate.GetErrorString)) {
        reasons += (reasons.empty() ? "" : "; ") + name + ": missing CUDA runtime symbols";
        dlclose(handle);
        continue;
      }
      candidate.library = name;
      candidate.loaded = true;
      runtime = candidate;
    }
  }
  if (!runtime.loaded) {
    result.Set("ok", false);
    result.Set("reason", "no CUDA runtime library could be loaded (" + reasons + ")");
    return result;
  }
  int devices = 0, version = 0;
  int error = runtime.GetDeviceCount(&devices);
  runtime.RuntimeGetVersion(&version);
  result.Set("library", runtime.library);
  result.Set("runtimeVersion", version);
  result.Set("devices", error == 0 ? devices : 0);
  if (error != 0 || devices == 0) {
    result.Set("ok", false);
    result.Set("reason", error != 0 ? std::string("cudaGetDeviceCount: ") + runtime.GetErrorName(error) +
                                          ": " + runtime.GetErrorString(error)
                                    : std::string("no CUDA device"));
    return result;
  }
  result.Set("ok", true);
  result.Set("reason", "");
  return result;
}

// cudaMalloc(bytes, managed): bigint -> cudaMalloc / cudaMallocManaged(cudaMemAttachGlobal)
Napi::Value CudaMalloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireLoaded(env)) return env.Undefined();
  size_t bytes = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  bool managed = info[1].As<Napi::Boolean>().Value();
  void* ptr = nullptr;
  int error = managed ? runtime.MallocManaged(&ptr, bytes, 1) : runtime.Malloc(&ptr, bytes);
  if (ThrowCudaError(env, error, managed ? "cudaMallocManaged" : "cudaMalloc")) return env.Undefined();
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ptr)));
}

// cudaFree(ptr: bigint): void -> cudaFree
Napi::Value CudaFree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireLoaded(env)) return env.Undefined();
  bool lossless;
  void* ptr = reinterpret_cast<void*>(info[0].As<Napi::BigInt>().Uint64Value(&lossless));
  ThrowCudaError(env, runtime.Free(ptr), "cudaFree");
  return env.Undefined();
}

// cudaMemcpy(dst, src, bytes, kind): void -> cudaMemcpy; dst/src are device pointers or host views
Napi::Value CudaMemcpy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireLoaded(env)) return env.Undefined();
  DataArg dst, src;
  if (!ReadData(env, info[0], info[2], &dst) || !ReadData(env, info[1], info[2], &src))
    return env.Undefined();
  size_t bytes = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  ThrowCudaError(env, runtime.Memcpy(dst.ptr, src.ptr, bytes, info[3].As<Napi::Number>().Int32Value()),
                 "cudaMemcpy");
  return env.Undefined();
}

}  // namespace

void DefineCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaLoad", Napi::Function::New<CudaLoad>(env, "cudaLoad"));
  exports.Set("cudaMalloc", Napi::Function::New<CudaMalloc>(env, "cudaMalloc"));
  exports.Set("cudaFree", Napi::Function::New<CudaFree>(env, "cudaFree"));
  exports.Set("cudaMemcpy", Napi::Function::New<CudaMemcpy>(env, "cudaMemcpy"));
}

}  // namespace nucx
