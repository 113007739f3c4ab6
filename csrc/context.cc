#include "context.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "addon.h"
#include "request.h"
#include "status.h"

namespace nucx {

Napi::Function Context::Define(Napi::Env env) {
  return DefineClass(env, "Context",
                     {
                         InstanceMethod<&Context::MemoryTypes>("memoryTypes"),
                         InstanceMethod<&Context::Config>("config"),
                         InstanceMethod<&Context::Close>("close"),
                     });
}

// new Context(features: number, config: [key, value][]) -> ucp_config_read, ucp_config_modify, ucp_init
Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
  Napi::Env env = info.Env();
  uint64_t features = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  Napi::Array entries = info[1].As<Napi::Array>();

  ucs_status_t status = ucp_config_read(nullptr, nullptr, &config_);
  if (status != UCS_OK) {
    ThrowStatus(env, status, "ucp_config_read");
    return;
  }
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Array entry = entries.Get(i).As<Napi::Array>();
    std::string key = entry.Get(0u).As<Napi::String>();
    std::string value = entry.Get(1u).As<Napi::String>();
    status = ucp_config_modify(config_, key.c_str(), value.c_str());
    if (status != UCS_OK) {
      std::string what = "ucp_config_modify(" + key + "=" + value + ")";
      ThrowStatus(env, status, what.c_str());
      return;
    }
  }

  ucp_params_t params = {};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_REQUEST_SIZE | UCP_PARAM_FIELD_REQUEST_INIT |
                      UCP_PARAM_FIELD_NAME;
  params.features = features;
  params.request_size = sizeof(Request);
  params.request_init = InitRequest;
  params.name = "node-ucx";
  status = ucp_init(&params, config_, &context_);
  if (status != UCS_OK) {
    context_ = nullptr;
    ThrowStatus(env, status, "ucp_init");
    return;
  }
  Addon::Of(env).contexts.insert(this);
}

Context::~Context() { Destroy(); }

void Context::Destroy() {
  if (context_ != nullptr) {
    ucp_cleanup(context_);
    context_ = nullptr;
    Addon::Of(Env()).contexts.erase(this);
  }
  if (config_ != nullptr) {
    ucp_config_release(config_);
    config_ = nullptr;
  }
}

// memoryTypes(): string[] -> ucp_context_query(UCP_ATTR_FIELD_MEMORY_TYPES)
Napi::Value Context::MemoryTypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ucp_context_attr_t attr = {};
  attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
  ucs_status_t status = ucp_context_query(context_, &attr);
  if (status != UCS_OK) {
    ThrowStatus(env, status, "ucp_context_query");
    return env.Undefined();
  }
  Napi::Array names = Napi::Array::New(env);
  uint32_t n = 0;
  for (int type = UCS_MEMORY_TYPE_HOST; type < UCS_MEMORY_TYPE_LAST; type++) {
    if (attr.memory_types & UCS_BIT(type))
      names.Set(n++, Napi::String::New(env, ucs_memory_type_names[type]));
  }
  return names;
}

// config(): [key, value][] -> ucp_config_print(UCS_CONFIG_PRINT_CONFIG)
Napi::Value Context::Config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char* text = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&text, &size);
  if (stream == nullptr) {
    ThrowStatus(env, UCS_ERR_NO_MEMORY, "open_memstream");
    return env.Undefined();
  }
  ucp_config_print(config_, stream, nullptr, UCS_CONFIG_PRINT_CONFIG);
  fclose(stream);
  Napi::String result = Napi::String::New(env, text, size);
  free(text);
  return result;
}

void Context::RemoveWorker() {
  if (--workers_ == 0 && close_requested_) Destroy();
}

// close(): void -> ucp_cleanup (once its workers are destroyed)
Napi::Value Context::Close(const Napi::CallbackInfo& info) {
  close_requested_ = true;
  if (workers_ == 0) Destroy();
  return info.Env().Undefined();
}

}  // namespace nucx
