#include "completion.h"

#include "addon.h"
#include "batch.h"
#include "endpoint.h"
#include "status.h"
#include "worker.h"

namespace nucx {

// The tail of every *_nbx call (see worker.h).
napi_value Worker::Submit(ucs_status_ptr_t status_ptr, RequestKind kind, Endpoint* endpoint,
                          const Holds& holds, const char* what, uint32_t cancel_id, BatchState* batch) {
  napi_env env = env_;
  if (status_ptr == nullptr) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    return undefined;
  }
  if (UCS_PTR_IS_ERR(status_ptr)) {
    ThrowStatus(env_, UCS_PTR_STATUS(status_ptr), what);
    return nullptr;
  }
  Request* request = ClaimRequest(status_ptr, this, kind);
  request->endpoint = endpoint;
  request->cancel_id = cancel_id;
  request->memory[0] = PinMemory(holds.views[0]);
  request->memory[1] = PinMemory(holds.views[1]);
  request->atomic = holds.atomic;
  request->atomic_size = holds.atomic_size;
  napi_value promise;
  napi_create_promise(env, &request->deferred, &promise);
  if (holds.object != nullptr) napi_create_reference(env, holds.object, 1, &request->pin);
  if (batch != nullptr) CountInBatch(request, batch);
  Track(request);
  return promise;
}

// The tail of a fast-path call: true when UCX completed the operation inline, false when it is
// pending and counted on `batch` (no promise of its own), and a throw for an inline failure.
napi_value Worker::SubmitToBatch(ucs_status_ptr_t status_ptr, RequestKind kind, Endpoint* endpoint,
                                 const Holds& holds, BatchState* batch, const char* what) {
  napi_value result;
  if (status_ptr == nullptr) {
    napi_get_boolean(env_, true, &result);
    return result;
  }
  if (UCS_PTR_IS_ERR(status_ptr)) {
    ThrowStatus(env_, UCS_PTR_STATUS(status_ptr), what);
    return nullptr;
  }
  Request* request = ClaimRequest(status_ptr, this, kind);
  request->endpoint = endpoint;
  request->memory[0] = PinMemory(holds.views[0]);
  request->memory[1] = PinMemory(holds.views[1]);
  request->atomic = holds.atomic;
  request->atomic_size = holds.atomic_size;
  CountInBatch(request, batch);
  Track(request);
  napi_get_boolean(env_, false, &result);
  return result;
}

// An endpoint closes (or failed): what it started and UCX has not completed rejects now with
// `error` (or ERR_UCX_CLOSED), in every error-handling mode; UCX keeps the request, and its
// memory stays pinned, until it completes or the worker goes. Abandoned requests no longer keep
// the process alive: a send to a dead peer in 'none' mode never completes.
void Worker::AbandonRequests(Endpoint* endpoint, napi_value error) {
  for (Request* r = pending_head_; r != nullptr; r = r->next) {
    if (r->endpoint != endpoint || r->kind == RequestKind::kClose || r->abandoned) continue;
    if (error == nullptr) error = MakeCodedError(env_, "ERR_UCX_CLOSED", "the Endpoint was closed");
    Abandon(r, error);
  }
}

// Settles `request`'s promise now (rejects with `error`, or resolves when it is null) and leaves
// the request to UCX (see AbandonRequests).
void Worker::Abandon(Request* request, napi_value error) {
  if (request->abandoned) return;
  napi_env env = env_;
  if (request->batch != nullptr) BatchOpDone(request, error);
  if (request->deferred != nullptr) {
    if (error != nullptr) {
      napi_reject_deferred(env, request->deferred, error);
    } else {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      napi_resolve_deferred(env, request->deferred, undefined);
    }
    request->deferred = nullptr;
  }
  request->abandoned = true;
  abandoned_count_++;
  UpdateHandles();
}

void Worker::Track(Request* request) {
  request->prev = nullptr;
  request->next = pending_head_;
  if (pending_head_ != nullptr) pending_head_->prev = request;
  pending_head_ = request;
  pending_count_++;
  if (request->cancel_id != 0) cancellable_[request->cancel_id] = request;
  // Completed inside the call that returned it (ClaimRequest): delivered with the next batch.
  if (request->done) Completed(request);
  UpdateHandles();
}

void Worker::Untrack(Request* request) {
  if (request->abandoned) abandoned_count_--;
  if (request->prev != nullptr)
    request->prev->next = request->next;
  else
    pending_head_ = request->next;
  if (request->next != nullptr) request->next->prev = request->prev;
  request->prev = request->next = nullptr;
  pending_count_--;
  if (request->cancel_id != 0) cancellable_.erase(request->cancel_id);
}

// The completion callbacks (UCX calls them inside ucp_worker_progress, or inside the *_nbx call
// that returns the request: see ClaimRequest) only record the result
// and queue the request; Deliver settles the batch.
static void MarkDone(void* raw, ucs_status_t status) {
  Request* request = static_cast<Request*>(raw);
  request->done = true;
  request->status = status;
  if (request->worker != nullptr) request->worker->Completed(request);
}

void Worker::OnSend(void* request, ucs_status_t status, void* user_data) { MarkDone(request, status); }

void Worker::OnTagRecv(void* raw, ucs_status_t status, const ucp_tag_recv_info_t* info, void* user_data) {
  Request* request = static_cast<Request*>(raw);
  if ((status == UCS_OK || status == UCS_ERR_MESSAGE_TRUNCATED) && info != nullptr) {
    request->length = info->length;
    request->tag = info->sender_tag;
  }
  MarkDone(raw, status);
}

void Worker::OnStreamRecv(void* raw, ucs_status_t status, size_t length, void* user_data) {
  static_cast<Request*>(raw)->length = length;
  MarkDone(raw, status);
}

void Worker::OnAmData(void* raw, ucs_status_t status, size_t length, void* user_data) {
  MarkDone(raw, status);
}

// { length, tag } / { data, tag }: a hot path, so the keys come from the addon's cache.
static void SetKey(napi_env env, napi_value object, napi_value keys, Addon::Key key, napi_value value) {
  napi_value name;
  napi_get_element(env, keys, key, &name);
  napi_set_property(env, object, name, value);
}

napi_value MakeRecvResult(napi_env env, size_t length, ucp_tag_t tag) {
  napi_value keys, result, length_value, tag_value;
  napi_get_reference_value(env, Napi::Env(env).GetInstanceData<Addon>()->keys, &keys);
  napi_create_object(env, &result);
  napi_create_double(env, static_cast<double>(length), &length_value);
  napi_create_bigint_uint64(env, tag, &tag_value);
  SetKey(env, result, keys, Addon::kKeyLength, length_value);
  SetKey(env, result, keys, Addon::kKeyTag, tag_value);
  return result;
}

napi_value MakeMessageResult(napi_env env, napi_value data, ucp_tag_t tag) {
  napi_value keys, result, tag_value;
  napi_get_reference_value(env, Napi::Env(env).GetInstanceData<Addon>()->keys, &keys);
  napi_create_object(env, &result);
  napi_create_bigint_uint64(env, tag, &tag_value);
  SetKey(env, result, keys, Addon::kKeyData, data);
  SetKey(env, result, keys, Addon::kKeyTag, tag_value);
  return result;
}

static const char* KindName(RequestKind kind) {
  switch (kind) {
    case RequestKind::kSend:
      return "send";
    case RequestKind::kTagRecv:
    case RequestKind::kTagRecvLength:
      return "ucp_tag_recv_nbx";
    case RequestKind::kTagMessage:
    case RequestKind::kTagMessageData:
      return "ucp_tag_msg_recv_nbx";
    case RequestKind::kStreamRecv:
      return "ucp_stream_recv_nbx";
    case RequestKind::kAmData:
    case RequestKind::kAmRecv:
      return "ucp_am_recv_data_nbx";
    case RequestKind::kFetch:
      return "ucp_atomic_op_nbx";
    case RequestKind::kClose:
      return "ucp_ep_close_nbx";
    case RequestKind::kDiscard:
      return "ucp_tag_msg_recv_nbx";
  }
  return "request";
}

// What a completed request's promise resolves to.
napi_value Worker::ResultOf(Request* request) {
  napi_env env = env_;
  napi_value value;
  switch (request->kind) {
    case RequestKind::kTagRecv:
      value = MakeRecvResult(env, request->length, request->tag);
      break;
    case RequestKind::kTagRecvLength:
      napi_create_double(env, static_cast<double>(request->length), &value);
      break;
    case RequestKind::kTagMessage: {
      napi_value data;
      napi_get_reference_value(env, request->extra, &data);
      value = MakeMessageResult(env, data, request->tag);
      break;
    }
    case RequestKind::kTagMessageData:
      napi_get_reference_value(env, request->extra, &value);
      break;
    case RequestKind::kStreamRecv:
    case RequestKind::kAmRecv:
      napi_create_double(env, static_cast<double>(request->length), &value);
      break;
    case RequestKind::kFetch: {
      uint64_t fetched = request->atomic[1];
      if (request->atomic_size == 4) fetched = static_cast<uint32_t>(fetched);
      napi_create_bigint_uint64(env, fetched, &value);
      break;
    }
    default:
      napi_get_undefined(env, &value);
  }
  return value;
}

// Drops what a request holds (the pinned buffer, the extra value, the atomic's storage) and gives
// it back to UCX, which frees it once it completes.
static void Release(napi_env env, Request* request) {
  if (request->pin != nullptr) napi_delete_reference(env, request->pin);
  if (request->extra != nullptr) napi_delete_reference(env, request->extra);
  RecycleRequest(request);
}

// Resolves or rejects one completed request (its promise, its batch, or both) and gives it back to UCX.
void Worker::Settle(Request* request) {
  napi_env env = env_;
  Untrack(request);
  if (request->kind == RequestKind::kClose && request->endpoint != nullptr)
    request->endpoint->CloseCompleted(request);
  if (request->abandoned || request->kind == RequestKind::kDiscard) {
    // Settled already (or never had a promise): only UCX's memory goes back.
  } else if (request->kind == RequestKind::kAmData) {
    // The active message goes to the handler; during close() no JS runs, and it is dropped.
    if (shutting_down_)
      DiscardAmData(request);
    else
      CompleteAmData(request);
  } else if (request->status == UCS_OK) {
    if (request->length_out != nullptr) *request->length_out = static_cast<uint32_t>(request->length);
    if (request->batch != nullptr) BatchOpDone(request, nullptr);
    if (request->deferred != nullptr) napi_resolve_deferred(env, request->deferred, ResultOf(request));
  } else {
    napi_value error = shutting_down_ && request->status == UCS_ERR_CANCELED
                           ? MakeCodedError(env_, "ERR_UCX_CLOSED", "the Worker was closed")
                           : MakeStatusError(env_, request->status, KindName(request->kind));
    if (request->batch != nullptr) BatchOpDone(request, error);
    if (request->deferred != nullptr) napi_reject_deferred(env, request->deferred, error);
  }
  Release(env, request);
}

// close(): settles what completed, then rejects what UCX did not complete (ERR_UCX_CLOSED).
void Worker::RejectPending() {
  napi_env env = env_;
  std::vector<Request*> done;
  done.swap(completed_);
  for (Request* r : done) Settle(r);
  // Whatever UCX did not complete is rejected here and handed back to UCX.
  while (pending_head_ != nullptr) {
    Request* r = pending_head_;
    Untrack(r);
    if (r->kind == RequestKind::kClose && r->endpoint != nullptr) r->endpoint->CloseCompleted(r);
    if (r->abandoned || r->kind == RequestKind::kDiscard) {
      // no promise left to settle (an abandoned AM receive dropped its event already)
    } else if (r->kind == RequestKind::kAmData) {
      DiscardAmData(r);
    } else {
      napi_value error = MakeCodedError(env_, "ERR_UCX_CLOSED", "the Worker was closed");
      if (r->batch != nullptr) BatchOpDone(r, error);
      if (r->deferred != nullptr) napi_reject_deferred(env, r->deferred, error);
    }
    Release(env, r);
  }
}

// Env teardown: JS can no longer run, so nothing is settled; the requests go back to UCX
// (released once complete) so that its pools are whole when the worker is destroyed.
// Completed-but-undelivered requests are still on the pending list.
void Worker::ReleasePending() {
  for (Request* r = pending_head_; r != nullptr;) {
    Request* next = r->next;
    if (r->batch != nullptr) ReleaseBatch(env_, r->batch);
    RecycleRequest(r);
    r = next;
  }
}

}  // namespace nucx
