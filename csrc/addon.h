// Per-environment state of the addon: constructors, the UCXError class handed
// over by TypeScript, and the live native objects that env cleanup must close.
// No statics hold JS values, so the addon loads in several worker_threads at once.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>
#include <unordered_set>

namespace nucx {

class Context;
class Worker;

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  Napi::FunctionReference context_ctor;
  Napi::FunctionReference worker_ctor;
  Napi::FunctionReference listener_ctor;
  Napi::FunctionReference endpoint_ctor;
  Napi::FunctionReference memory_ctor;
  Napi::FunctionReference rkey_ctor;
  Napi::FunctionReference error_ctor;  // UCXError from src/errors.ts
  napi_ref noop = nullptr;             // a native no-op: calling it tells whether JS may run (see CanRunJs)
  // Property keys of completion results, made once instead of on every receive. Kept in an
  // array: Node 20 cannot reference a primitive string directly.
  enum Key : uint32_t { kKeyLength = 0, kKeyTag = 1, kKeyData = 2 };
  napi_ref keys = nullptr;

  // Live objects, closed in order (workers, then contexts) when the env exits.
  std::unordered_set<Context*> contexts;
  std::unordered_set<Worker*> workers;

  static Addon& Of(Napi::Env env) { return *env.GetInstanceData<Addon>(); }

  // Each Worker's libuv handles close asynchronously; env teardown waits for
  // all of them (an async cleanup hook), so worker_threads exit cleanly.
  void LoopHandlesOpened() { open_handle_sets_++; }
  void LoopHandlesClosed();

 private:
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info);
  Napi::Value Version(const Napi::CallbackInfo& info);
  static void Cleanup(napi_async_cleanup_hook_handle handle, void* arg);
  napi_async_cleanup_hook_handle cleanup_handle_ = nullptr;
  int open_handle_sets_ = 0;
  bool cleaning_up_ = false;
};

}  // namespace nucx
