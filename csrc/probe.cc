#include "probe.h"

#include "completion.h"
#include "status.h"
#include "worker.h"

namespace nucx {

// Receives a message the probe took off UCX's queue into a new Buffer of its size.
bool Worker::StartMessageRecv(ucp_tag_message_h message, const ucp_tag_recv_info_t& info, napi_deferred deferred,
                              bool data_only) {
  napi_env env = env_;
  void* bytes;
  napi_value data;
  napi_create_buffer(env, info.length, &bytes, &data);
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param.cb.recv = OnTagRecv;
  param.memory_type = UCS_MEMORY_TYPE_HOST;
  ucs_status_ptr_t sp = ucp_tag_msg_recv_nbx(worker_, bytes, info.length, message, &param);
  if (sp == nullptr) {
    napi_resolve_deferred(env, deferred, data_only ? data : MakeMessageResult(env, data, info.sender_tag));
    return true;
  }
  if (UCS_PTR_IS_ERR(sp)) {
    napi_reject_deferred(env, deferred, MakeStatusError(env_, UCS_PTR_STATUS(sp), "ucp_tag_msg_recv_nbx"));
    return true;
  }
  Request* request = ClaimRequest(sp, this, data_only ? RequestKind::kTagMessageData : RequestKind::kTagMessage);
  request->deferred = deferred;
  napi_create_reference(env, data, 1, &request->extra);
  Track(request);
  return true;
}

// After progress that saw activity, and when a waiter joins.
void Worker::ServiceProbeWaiters() {
  probe_due_ = false;
  // In order: the oldest waiter gets the first matching message.
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    ucp_tag_recv_info_t info;
    ucp_tag_message_h message = ucp_tag_probe_nb(worker_, it->tag, it->mask, 1, &info);
    if (message == nullptr) {
      ++it;
      continue;
    }
    napi_deferred deferred = it->deferred;
    bool data_only = it->data_only;
    it = waiters_.erase(it);
    StartMessageRecv(message, info, deferred, data_only);
  }
}

// cancel(): a waiter that has no message yet rejects with UCS_ERR_CANCELED. A matched one is a
// receive in flight that carries no cancel id, so cancel() no longer finds it.
bool Worker::CancelProbeWaiter(uint32_t cancel_id) {
  Napi::Env env = env_;
  for (auto w = waiters_.begin(); w != waiters_.end(); ++w) {
    if (w->cancel_id == cancel_id) {
      napi_reject_deferred(env, w->deferred, MakeStatusError(env, UCS_ERR_CANCELED, "ucp_tag_probe_nb"));
      waiters_.erase(w);
      UpdateHandles();
      return true;
    }
  }
  return false;
}

// close(): every waiter rejects with ERR_UCX_CLOSED.
void Worker::RejectProbeWaiters() {
  napi_env env = env_;
  for (ProbeWaiter& w : waiters_) {
    napi_reject_deferred(env, w.deferred, MakeCodedError(env_, "ERR_UCX_CLOSED", "the Worker was closed"));
  }
}

}  // namespace nucx
