#include "status.h"

#include <string>

#include "addon.h"

namespace nucx {

const char* StatusName(ucs_status_t status) {
  switch (status) {
#define NUCX_STATUS(name) \
  case name:              \
    return #name;
    NUCX_STATUS(UCS_OK)
    NUCX_STATUS(UCS_INPROGRESS)
    NUCX_STATUS(UCS_ERR_NO_MESSAGE)
    NUCX_STATUS(UCS_ERR_NO_RESOURCE)
    NUCX_STATUS(UCS_ERR_IO_ERROR)
    NUCX_STATUS(UCS_ERR_NO_MEMORY)
    NUCX_STATUS(UCS_ERR_INVALID_PARAM)
    NUCX_STATUS(UCS_ERR_UNREACHABLE)
    NUCX_STATUS(UCS_ERR_INVALID_ADDR)
    NUCX_STATUS(UCS_ERR_NOT_IMPLEMENTED)
    NUCX_STATUS(UCS_ERR_MESSAGE_TRUNCATED)
    NUCX_STATUS(UCS_ERR_NO_PROGRESS)
    NUCX_STATUS(UCS_ERR_BUFFER_TOO_SMALL)
    NUCX_STATUS(UCS_ERR_NO_ELEM)
    NUCX_STATUS(UCS_ERR_SOME_CONNECTS_FAILED)
    NUCX_STATUS(UCS_ERR_NO_DEVICE)
    NUCX_STATUS(UCS_ERR_BUSY)
    NUCX_STATUS(UCS_ERR_CANCELED)
    NUCX_STATUS(UCS_ERR_SHMEM_SEGMENT)
    NUCX_STATUS(UCS_ERR_ALREADY_EXISTS)
    NUCX_STATUS(UCS_ERR_OUT_OF_RANGE)
    NUCX_STATUS(UCS_ERR_TIMED_OUT)
    NUCX_STATUS(UCS_ERR_EXCEEDS_LIMIT)
    NUCX_STATUS(UCS_ERR_UNSUPPORTED)
    NUCX_STATUS(UCS_ERR_REJECTED)
    NUCX_STATUS(UCS_ERR_NOT_CONNECTED)
    NUCX_STATUS(UCS_ERR_CONNECTION_RESET)
    NUCX_STATUS(UCS_ERR_ENDPOINT_TIMEOUT)
#undef NUCX_STATUS
    default:
      if (UCS_IS_LINK_ERROR(status)) return "UCS_ERR_LINK_FAILURE";
      if (UCS_IS_ENDPOINT_ERROR(status)) return "UCS_ERR_ENDPOINT_FAILURE";
      return "UCS_ERR_UNKNOWN";
  }
}

static Napi::Value MakeError(Napi::Env env, const std::string& message, const char* code, double status) {
  Napi::FunctionReference& ctor = Addon::Of(env).error_ctor;
  if (!ctor.IsEmpty()) {
    return ctor.New({Napi::String::New(env, message), Napi::String::New(env, code), Napi::Number::New(env, status)});
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("status", Napi::Number::New(env, status));
  return error.Value();
}

Napi::Value MakeStatusError(Napi::Env env, ucs_status_t status, const char* what) {
  std::string message = std::string(what) + ": " + ucs_status_string(status);
  return MakeError(env, message, StatusName(status), static_cast<double>(status));
}

Napi::Value MakeCodedError(Napi::Env env, const char* code, const char* message) {
  return MakeError(env, message, code, UCS_ERR_CANCELED);  // ERR_UCX_CLOSED: the operation was canceled by a close
}

void ThrowStatus(Napi::Env env, ucs_status_t status, const char* what) {
  napi_throw(env, MakeStatusError(env, status, what));
}

void ThrowCoded(Napi::Env env, const char* code, const char* message) {
  napi_throw(env, MakeCodedError(env, code, message));
}

}  // namespace nucx
