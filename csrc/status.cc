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

// Raw N-API with every status checked: during env teardown calls can fail, and
// node-addon-api's conveniences would turn that into a fatal error.
static Napi::Value MakeError(Napi::Env env, const std::string& message, const char* code, double status) {
  napi_value message_value, code_value, status_value, error = nullptr;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &message_value) != napi_ok ||
      napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_double(env, status, &status_value) != napi_ok) {
    return Napi::Value();
  }
  Napi::FunctionReference& ctor = Addon::Of(env).error_ctor;
  if (!ctor.IsEmpty()) {
    napi_value args[] = {message_value, code_value, status_value};
    if (napi_new_instance(env, ctor.Value(), 3, args, &error) == napi_ok) return Napi::Value(env, error);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
  if (napi_create_error(env, code_value, message_value, &error) != napi_ok) return Napi::Value();
  napi_set_named_property(env, error, "status", status_value);
  return Napi::Value(env, error);
}

Napi::Value MakeStatusError(Napi::Env env, ucs_status_t status, const char* what) {
  std::string message = std::string(what) + ": " + ucs_status_string(status);
  return MakeError(env, message, StatusName(status), static_cast<double>(status));
}

Napi::Value MakeCodedError(Napi::Env env, const char* code, const char* message) {
  return MakeError(env, message, code,
                   UCS_ERR_CANCELED);  // ERR_UCX_CLOSED: the operation was canceled by a close
}

void ThrowStatus(Napi::Env env, ucs_status_t status, const char* what) {
  napi_throw(env, MakeStatusError(env, status, what));
}

void ThrowCoded(Napi::Env env, const char* code, const char* message) {
  napi_throw(env, MakeCodedError(env, code, message));
}

}  // namespace nucx
