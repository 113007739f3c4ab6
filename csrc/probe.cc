#include "probe.h"

#include <string>

#include "completion.h"
#include "status.h"
#include "worker.h"

namespace nucx {

// Receives a message the probe took off UCX's queue into a new Buffer of its size; a message
// longer than the waiter's maxLength is received into nothing (UCX drops it as truncated) and the
// waiter rejects, so a peer's message size never decides what this process allocates.
void Worker::StartMessageRecv(ucp_tag_message_h message, const ucp_tag_recv_info_t& info,
                              const ProbeWaiter& waiter) {
  napi_env env = env_;
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param.cb.recv = OnTagRecv;
  param.memory_type = UCS_MEMORY_TYPE_HOST;
  if (info.length > waiter.max_length) {
    std::string why = "a message of " + std::to_string(info.length) + " bytes is longer than maxLength (" +
                      std::to_string(waiter.max_length) + "); it was dropped";
    napi_reject_deferred(env, waiter.deferred, MakeStatusError(env_, UCS_ERR_MESSAGE_TRUNCATED, why.c_str()));
    ucs_status_ptr_t sp = ucp_tag_msg_recv_nbx(worker_, nullptr, 0, message, &param);
    if (sp != nullptr && !UCS_PTR_IS_ERR(sp)) {
      Request* request = ClaimRequest(sp, this, RequestKind::kDiscard);
      request->abandoned = true;  // no promise waits for it
      abandoned_count_++;
      Track(request);
    }
    return;
  }
  void* bytes;
  napi_value data;
  napi_create_buffer(env, info.length, &bytes, &data);
  ucs_status_ptr_t sp = ucp_tag_msg_recv_nbx(worker_, bytes, info.length, message, &param);
  if (sp == nullptr) {
    napi_resolve_deferred(env, waiter.deferred,
                          waiter.data_only ? data : MakeMessageResult(env, data, info.sender_tag));
    return;
  }
  if (UCS_PTR_IS_ERR(sp)) {
    napi_reject_deferred(env, waiter.deferred,
                         MakeStatusError(env_, UCS_PTR_STATUS(sp), "ucp_tag_msg_recv_nbx"));
    return;
  }
  Request* request =
      ClaimRequest(sp, this, waiter.data_only ? RequestKind::kTagMessageData : RequestKind::kTagMessage);
  request->deferred = waiter.deferred;
  napi_create_reference(env, data, 1, &request->extra);
  Track(request);
}

// After progress that saw activity, and when a waiter joins.
void Worker::ServiceProbeWaiters() {
  probe_due_ = false;
  // In order: the oldest waiter gets the first matching message.
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    ucp_tag_recv_info_t info;
    if (it->notify) {
      // tagWait: a match is there (and stays queued for the receive that follows).
      if (ucp_tag_probe_nb(worker_, it->tag, it->mask, 0, &info) == nullptr) {
        ++it;
        continue;
      }
      napi_deferred deferred = it->deferred;
      it = waiters_.erase(it);
      napi_value undefined;
      napi_get_undefined(env_, &undefined);
      napi_resolve_deferred(env_, deferred, undefined);
      continue;
    }
    ucp_tag_message_h message = ucp_tag_probe_nb(worker_, it->tag, it->mask, 1, &info);
    if (message == nullptr) {
      ++it;
      continue;
    }
    ProbeWaiter waiter = *it;
    it = waiters_.erase(it);
    StartMessageRecv(message, info, waiter);
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
