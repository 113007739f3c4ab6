// Requests from submission to settlement (Worker's member functions in completion.cc):
// Submit turns an *_nbx call's result into a value or a pending promise, the completion
// callbacks record the outcome, and Settle resolves or rejects the promise when the batch
// is delivered. The result objects are shared with the inline fast paths.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>

namespace nucx {

// { length, tag }: tagRecv and tagProbe.
napi_value MakeRecvResult(napi_env env, size_t length, ucp_tag_t tag);
// { data, tag }: tagRecvMessage.
napi_value MakeMessageResult(napi_env env, napi_value data, ucp_tag_t tag);

}  // namespace nucx
