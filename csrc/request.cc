#include "request.h"

#include <cstring>

namespace nucx {

void InitRequest(void* request) { std::memset(request, 0, sizeof(Request)); }

Request* ClaimRequest(void* raw, Worker* worker, RequestKind kind) {
  InitRequest(raw);
  Request* request = static_cast<Request*>(raw);
  request->worker = worker;
  request->kind = kind;
  return request;
}

bool ReadData(Napi::Env env, napi_value value, napi_value length, DataArg* out) {
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
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (is_typed) {
    napi_typedarray_type array_type;
    size_t count;
    napi_value arraybuffer;
    size_t offset;
    napi_get_typedarray_info(env, value, &array_type, &count, &out->ptr, &arraybuffer, &offset);
    size_t element = 1;
    switch (array_type) {
      case napi_int16_array: case napi_uint16_array: element = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: element = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: element = 8; break;
      default: element = 1;
    }
    out->length = count * element;
    out->pinnable = value;
    return true;
  }
  bool is_view = false;
  napi_is_dataview(env, value, &is_view);
  if (is_view) {
    napi_value arraybuffer;
    size_t offset;
    napi_get_dataview_info(env, value, &out->length, &out->ptr, &arraybuffer, &offset);
    out->pinnable = value;
    return true;
  }
  Napi::TypeError::New(env, "data must be an ArrayBufferView or a device pointer").ThrowAsJavaScriptException();
  return false;
}

}  // namespace nucx
