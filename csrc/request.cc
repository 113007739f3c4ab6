#include "request.h"

#include <cstring>
#include <new>

namespace nucx {

void InitRequest(void* request) {
  std::memset(request, 0, sizeof(Request));
  Request* r = static_cast<Request*>(request);
  new (&r->memory[0]) PinnedMemory();
  new (&r->memory[1]) PinnedMemory();
}

// The request is clean already (InitRequest when UCX first made it, RecycleRequest when it was
// last given back), and its completion callback may have run inside the *_nbx call that returned
// it: done, status, length and tag are kept.
Request* ClaimRequest(void* raw, Worker* worker, RequestKind kind) {
  Request* request = static_cast<Request*>(raw);
  request->worker = worker;
  request->kind = kind;
  return request;
}

void RecycleRequest(Request* request) {
  request->memory[0].reset();
  request->memory[1].reset();
  delete[] request->atomic;
  InitRequest(request);
  ucp_request_free(request);
}

// napi_value is a v8::Local<v8::Value> by another name (Node's js_native_api_v8.h converts them
// the same way).
static v8::Local<v8::Value> ToV8(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

PinnedMemory PinMemory(napi_value view) {
  if (view == nullptr) return {};
  v8::Local<v8::Value> value = ToV8(view);
  if (!value->IsArrayBufferView()) return {};
  return value.As<v8::ArrayBufferView>()->Buffer()->GetBackingStore();
}

static bool RefuseDetached(Napi::Env env, napi_value arraybuffer) {
  bool detached = false;
  napi_is_detached_arraybuffer(env, arraybuffer, &detached);
  // napi_throw_type_error sets `code`, as Node's own argument errors have it.
  if (detached)
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "The data's ArrayBuffer is detached (it was transferred)");
  return detached;
}

bool ReadData(Napi::Env env, napi_value value, napi_value length, DataArg* out) {
  // A typed array first, asked in one call (a hot path: napi_get_typedarray_info fails, without
  // throwing, for anything else).
  napi_typedarray_type array_type;
  size_t count;
  napi_value arraybuffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &array_type, &count, &out->ptr, &arraybuffer, &offset) ==
      napi_ok) {
    if (count == 0 && RefuseDetached(env, arraybuffer)) return false;
    size_t element = 1;
    switch (array_type) {
      case napi_int16_array:
      case napi_uint16_array:
        element = 2;
        break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array:
        element = 4;
        break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array:
        element = 8;
        break;
      default:
        element = 1;
    }
    out->length = count * element;
    out->pinnable = value;
    return true;
  }
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_bigint) {
    uint64_t address;
    bool lossless;
    napi_get_value_bigint_uint64(env, value, &address, &lossless);
    int64_t bytes = 0;
    napi_get_value_int64(env, length, &bytes);
    out->ptr = reinterpret_cast<void*>(address);
    out->length = static_cast<size_t>(bytes);
    out->pinnable = nullptr;
    return true;
  }
  bool is_view = false;
  napi_is_dataview(env, value, &is_view);
  if (is_view) {
    napi_value arraybuffer;
    size_t offset;
    napi_get_dataview_info(env, value, &out->length, &out->ptr, &arraybuffer, &offset);
    if (out->length == 0 && RefuseDetached(env, arraybuffer)) return false;
    out->pinnable = value;
    return true;
  }
  Napi::TypeError::New(env, "data must be an ArrayBufferView or a device pointer")
      .ThrowAsJavaScriptException();
  return false;
}

}  // namespace nucx
