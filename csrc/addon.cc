#include "addon.h"

#include <node_version.h>

#include <vector>

#include "context.h"
#include "cuda.h"
#include "endpoint.h"
#include "listener.h"
#include "memory.h"
#include "status.h"
#include "worker.h"

namespace nucx {

Addon::Addon(Napi::Env env, Napi::Object exports) {
  context_ctor = Napi::Persistent(Context::Define(env));
  worker_ctor = Napi::Persistent(Worker::Define(env));
  listener_ctor = Napi::Persistent(Listener::Define(env));
  endpoint_ctor = Napi::Persistent(Endpoint::Define(env));
  memory_ctor = Napi::Persistent(MemoryHandle::Define(env));
  rkey_ctor = Napi::Persistent(RemoteKey::Define(env));
  DefineAddon(exports, {
                           InstanceValue("Context", context_ctor.Value()),
                           InstanceValue("Worker", worker_ctor.Value()),
                           InstanceValue("Listener", listener_ctor.Value()),
                           InstanceValue("Endpoint", endpoint_ctor.Value()),
                           InstanceValue("MemoryHandle", memory_ctor.Value()),
                           InstanceValue("RemoteKey", rkey_ctor.Value()),
                           InstanceMethod<&Addon::SetErrorClass>("setErrorClass"),
                           InstanceMethod<&Addon::Version>("version"),
                           // The NODE_MODULE_VERSION of the headers this was compiled against: request.cc
                           // calls V8's C++ API, which has no ABI across Node majors, so the loader refuses
                           // a binary whose number differs from process.versions.modules.
                           InstanceValue("nodeAbi", Napi::Number::New(env, NODE_MODULE_VERSION)),
                       });
  DefineCuda(env, exports);
  // Runs before the env's own finalizers: everything native is closed in order
  // (endpoints, listeners, workers with their uv handles, then contexts), so
  // wrappers finalized afterwards find nothing left to release.
  napi_value noop_fn;
  napi_create_function(
      env, "noop", NAPI_AUTO_LENGTH, [](napi_env, napi_callback_info) -> napi_value { return nullptr; },
      nullptr, &noop_fn);
  napi_create_reference(env, noop_fn, 1, &noop);
  napi_value key_array;
  napi_create_array_with_length(env, 3, &key_array);
  const char* names[] = {"length", "tag", "data"};
  for (uint32_t i = 0; i < 3; i++) {
    napi_value key;
    napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &key);
    napi_set_element(env, key_array, i, key);
  }
  napi_create_reference(env, key_array, 1, &keys);
  napi_add_async_cleanup_hook(env, Cleanup, this, &cleanup_handle_);
}

Addon::~Addon() {}

void Addon::Cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  Addon* self = static_cast<Addon*>(arg);
  self->cleaning_up_ = true;
  std::vector<Worker*> workers(self->workers.begin(), self->workers.end());
  for (Worker* worker : workers) worker->Shutdown(false);
  std::vector<Context*> contexts(self->contexts.begin(), self->contexts.end());
  for (Context* context : contexts) context->Destroy();
  if (self->open_handle_sets_ == 0) self->LoopHandlesClosed();
}

void Addon::LoopHandlesClosed() {
  if (open_handle_sets_ > 0) open_handle_sets_--;
  if (cleaning_up_ && open_handle_sets_ == 0 && cleanup_handle_ != nullptr) {
    napi_async_cleanup_hook_handle handle = cleanup_handle_;
    cleanup_handle_ = nullptr;
    napi_remove_async_cleanup_hook(handle);
  }
}

// setErrorClass(UCXError): errors made in C++ are instances of the TS class.
Napi::Value Addon::SetErrorClass(const Napi::CallbackInfo& info) {
  error_ctor = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// version(): string -> ucp_get_version_string
Napi::Value Addon::Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ucp_get_version_string());
}

}  // namespace nucx

using NodeUcxAddon = nucx::Addon;
NODE_API_NAMED_ADDON(node_ucx, NodeUcxAddon)
