// ucs_status_t -> UCXError, in one place.
#pragma once
#include <napi.h>
#include <ucs/type/status.h>

namespace nucx {

// "UCS_ERR_CONNECTION_RESET" for -25; "UCS_ERR_UNKNOWN" for codes UCX does not name.
const char* StatusName(ucs_status_t status);

// A UCXError (or a plain Error before TypeScript registered the class) with
// code = the status name, status = the number, and `what` naming the failed call.
Napi::Value MakeStatusError(Napi::Env env, ucs_status_t status, const char* what);

// A coded error that is not a UCS status (ERR_UCX_CLOSED and friends).
Napi::Value MakeCodedError(Napi::Env env, const char* code, const char* message);

// Throws MakeStatusError as a JS exception; callers return right after.
void ThrowStatus(Napi::Env env, ucs_status_t status, const char* what);
void ThrowCoded(Napi::Env env, const char* code, const char* message);

}  // namespace nucx
