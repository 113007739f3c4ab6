#include "worker.h"

#include <string>

#include "addon.h"
#include "completion.h"
#include "context.h"
#include "endpoint.h"
#include "fastpath.h"
#include "listener.h"
#include "status.h"
#include "util/sockaddr.h"

namespace nucx {

Napi::Function Worker::Define(Napi::Env env) {
  return DefineClass(env, "Worker",
                     {
                         InstanceMethod<&Worker::Address>("address"),
                         InstanceMethod<&Worker::Progress>("progress"),
                         InstanceMethod<&Worker::Flush>("flush"),
                         InstanceMethod<&Worker::Fence>("fence"),
                         InstanceMethod<&Worker::TagRecv>("tagRecv"),
                         InstanceMethod<&Worker::TagRecvMessage>("tagRecvMessage"),
                         InstanceMethod<&Worker::TagProbe>("tagProbe"),
                         InstanceMethod<&Worker::Cancel>("cancel"),
                         InstanceMethod<&Worker::SetAmHandler>("setAmHandler"),
                         InstanceMethod<&Worker::Connect>("connect"),
                         InstanceMethod<&Worker::ConnectAddress>("connectAddress"),
                         InstanceMethod<&Worker::Listen>("listen"),
                         InstanceMethod<&Worker::Stats>("stats"),
                         InstanceMethod<&Worker::MaxAmHeader>("maxAmHeader"),
                         InstanceMethod<&Worker::Close>("close"),
                         InstanceMethod<&Worker::CreateBatch>("createBatch"),
                         InstanceMethod<&Worker::WaitBatch>("waitBatch"),
                         InstanceMethod<&Worker::TakeBatchError>("takeBatchError"),
                         InstanceMethod<&Worker::CancelBatch>("cancelBatch"),
                         InstanceMethod<&Worker::FastOps>("fastOps"),
                         InstanceMethod<&Worker::TagWait>("tagWait"),
                         InstanceMethod<&Worker::AmWait>("amWait"),
                         InstanceMethod<&Worker::AmQueueClear>("amQueueClear"),
                     });
}

// new Worker(context, mode, spinUs, fallbackMs, handler, yieldUs?) -> ucp_worker_create, ucp_worker_get_efd
Worker::Worker(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Worker>(info), env_(info.Env()), async_context_(info.Env(), "node-ucx:Worker") {
  Napi::Env env = info.Env();
  context_ = Context::Unwrap(info[0].As<Napi::Object>());
  if (context_->handle() == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the Context is closed");
    return;
  }
  context_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  mode_ = static_cast<ProgressMode>(info[1].As<Napi::Number>().Int32Value());
  spin_ns_ = static_cast<uint64_t>(info[2].As<Napi::Number>().DoubleValue() * 1000.0);
  fallback_ms_ = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  handler_ = Napi::Persistent(info[4].As<Napi::Function>());
  if (info.Length() > 5 && info[5].IsNumber()) {
    yield_ns_ = static_cast<uint64_t>(info[5].As<Napi::Number>().DoubleValue() * 1000.0);
  }

  ucp_worker_params_t params = {};
  params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE | UCP_WORKER_PARAM_FIELD_EVENTS;
  params.thread_mode = UCS_THREAD_MODE_SINGLE;
  params.events = UCP_WAKEUP_TAG_SEND | UCP_WAKEUP_TAG_RECV | UCP_WAKEUP_RMA | UCP_WAKEUP_AMO |
                  UCP_WAKEUP_TX | UCP_WAKEUP_RX;
  ucs_status_t status = ucp_worker_create(context_->handle(), &params, &worker_);
  if (status != UCS_OK) {
    worker_ = nullptr;
    ThrowStatus(env, status, "ucp_worker_create");
    return;
  }
  int efd = -1;
  status = ucp_worker_get_efd(worker_, &efd);
  if (status != UCS_OK) {
    ucp_worker_destroy(worker_);
    worker_ = nullptr;
    ThrowStatus(env, status, "ucp_worker_get_efd");
    return;
  }
  OpenLoopHandles(efd);
  Addon::Of(env).workers.insert(this);
  context_->AddWorker();
}

Worker::~Worker() {
  Shutdown(false);
  if (fast_ != nullptr) DropFastTarget(fast_);
  for (uint64_t* storage : atomic_pool_) delete[] storage;
}

// ---- JS methods -------------------------------------------------------------

#define NUCX_REQUIRE_OPEN(env)                                 \
  if (worker_ == nullptr) {                                    \
    ThrowCoded(env, "ERR_UCX_CLOSED", "the Worker is closed"); \
    return env.Undefined();                                    \
  }

// address(): Buffer -> ucp_worker_get_address
Napi::Value Worker::Address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  ucp_address_t* address;
  size_t length;
  ucs_status_t status = ucp_worker_get_address(worker_, &address, &length);
  if (status != UCS_OK) {
    ThrowStatus(env, status, "ucp_worker_get_address");
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> result =
      Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(address), length);
  ucp_worker_release_address(worker_, address);
  return result;
}

// progress(): number -> ucp_worker_progress (until idle), then delivers completions
Napi::Value Worker::Progress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  unsigned n = ProgressUntilIdle();
  if (HasDeliverables()) Deliver();
  return Napi::Number::New(env, n);
}

// flush(): Promise<void> | undefined -> ucp_worker_flush_nbx
Napi::Value Worker::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK;
  param.cb.send = OnSend;
  return Napi::Value(env, Submit(ucp_worker_flush_nbx(worker_, &param), RequestKind::kSend, nullptr, Holds{},
                                 "ucp_worker_flush_nbx"));
}

// fence(): void -> ucp_worker_fence
Napi::Value Worker::Fence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  ucs_status_t status = ucp_worker_fence(worker_);
  if (status != UCS_OK) ThrowStatus(env, status, "ucp_worker_fence");
  return env.Undefined();
}

// tagRecv(data, length, memoryType, tag, mask, cancelId, lengthOnly): {length, tag} | length | Promise ->
// ucp_tag_recv_nbx
Napi::Value Worker::TagRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  DataArg data;
  if (!ReadData(env, info[0], info[1], &data)) return env.Undefined();
  int memory_type = info[2].As<Napi::Number>().Int32Value();
  bool lossless;
  ucp_tag_t tag = info[3].As<Napi::BigInt>().Uint64Value(&lossless);
  ucp_tag_t mask = info[4].As<Napi::BigInt>().Uint64Value(&lossless);
  uint32_t cancel_id = info[5].As<Napi::Number>().Uint32Value();
  bool length_only = info.Length() > 6 && info[6].IsBoolean() && info[6].As<Napi::Boolean>().Value();
  // UCX 1.13 does not fill param.recv_info when the receive completes inline. It can only
  // complete inline on a message that is already queued, and the first queued match is what a
  // non-removing probe reports, so the probe supplies the length and the sender's tag.
  ucp_tag_recv_info_t queued;
  bool have_queued = ucp_tag_probe_nb(worker_, tag, mask, 0, &queued) != nullptr;
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK;
  param.cb.recv = OnTagRecv;
  if (memory_type >= 0) {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.memory_type = static_cast<ucs_memory_type_t>(memory_type);
  }
  ucs_status_ptr_t sp = ucp_tag_recv_nbx(worker_, data.ptr, data.length, tag, mask, &param);
  if (sp == nullptr) {
    if (!have_queued) {
      ThrowStatus(env, UCS_ERR_NO_MESSAGE, "ucp_tag_recv_nbx completed inline without a queued message");
      return env.Undefined();
    }
    if (queued.length > data.length) {
      ThrowStatus(env, UCS_ERR_MESSAGE_TRUNCATED, "ucp_tag_recv_nbx");
      return env.Undefined();
    }
    if (length_only) return Napi::Number::New(env, static_cast<double>(queued.length));
    return Napi::Value(env, MakeRecvResult(env, queued.length, queued.sender_tag));
  }
  return Napi::Value(env, Submit(sp, length_only ? RequestKind::kTagRecvLength : RequestKind::kTagRecv,
                                 nullptr, Holds{{data.pinnable}}, "ucp_tag_recv_nbx", cancel_id));
}

// tagRecvMessage(tag, mask, cancelId, dataOnly, maxLength): Promise<{data, tag} | data> -> ucp_tag_probe_nb +
// ucp_tag_msg_recv_nbx
Napi::Value Worker::TagRecvMessage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  bool lossless;
  ucp_tag_t tag = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  ucp_tag_t mask = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  uint32_t cancel_id = info[2].As<Napi::Number>().Uint32Value();
  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(env, &deferred, &promise);
  // Join the queue and serve it now, in order: older waiters get the first matching
  // messages, and a message that is already here is taken at once rather than at the
  // next UCX event (which may never come).
  bool data_only = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  size_t max_length = SIZE_MAX;
  if (info.Length() > 4 && info[4].IsNumber())
    max_length = static_cast<size_t>(info[4].As<Napi::Number>().DoubleValue());
  waiters_.push_back({tag, mask, deferred, cancel_id, data_only, max_length});
  ServiceProbeWaiters();
  UpdateHandles();
  return Napi::Value(env, promise);
}

// tagProbe(tag, mask): [length, tag] | null -> ucp_tag_probe_nb(remove = 0)
Napi::Value Worker::TagProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  bool lossless;
  ucp_tag_t tag = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  ucp_tag_t mask = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  ucp_tag_recv_info_t recv_info;
  if (ucp_tag_probe_nb(worker_, tag, mask, 0, &recv_info) == nullptr) return env.Null();
  return Napi::Value(env, MakeRecvResult(env, recv_info.length, recv_info.sender_tag));
}

// cancel(cancelId): boolean -> ucp_request_cancel (the request then rejects with UCS_ERR_CANCELED)
Napi::Value Worker::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (worker_ == nullptr) return Napi::Boolean::New(env, false);
  uint32_t cancel_id = info[0].As<Napi::Number>().Uint32Value();
  auto it = cancellable_.find(cancel_id);
  if (it != cancellable_.end()) {
    ucp_request_cancel(worker_, it->second);
    return Napi::Boolean::New(env, true);
  }
  return Napi::Boolean::New(env, CancelProbeWaiter(cancel_id) || CancelAmWaiter(cancel_id));
}

// setAmHandler(id, enabled, spins, allocator?, queued?): void -> ucp_worker_set_am_recv_handler
// `spins`: a poll-mode worker spins while such a handler is set, as it does for pending requests.
// `queued`: messages wait in the slot for amTryRecv (activeMessageQueue) instead of going to the handler.
Napi::Value Worker::SetAmHandler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  uint16_t id = static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value());
  bool enabled = info[1].As<Napi::Boolean>().Value();
  bool spins = enabled && info[2].As<Napi::Boolean>().Value();
  auto& slot = am_slots_[id];
  if (!slot) slot.reset(new AmSlot{this, id});
  if (slot->allocator != nullptr) {
    napi_delete_reference(env, slot->allocator);
    slot->allocator = nullptr;
  }
  if (enabled && info.Length() > 3 && info[3].IsFunction())
    napi_create_reference(env, info[3], 1, &slot->allocator);
  bool queued = enabled && info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  if (slot->queued && !queued)
    ClearAmQueue(slot.get(), MakeCodedError(env, "ERR_UCX_CLOSED", "the active message queue was closed"));
  slot->queued = queued;
  spinning_handlers_ += (spins ? 1 : 0) - (slot->spins ? 1 : 0);
  slot->spins = spins;
  UpdateHandles();
  ucp_am_handler_param_t param = {};
  param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                     UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS;
  param.id = id;
  param.flags = UCP_AM_FLAG_WHOLE_MSG | UCP_AM_FLAG_PERSISTENT_DATA;
  param.cb = enabled ? OnActiveMessage : nullptr;
  param.arg = slot.get();
  ucs_status_t status = ucp_worker_set_am_recv_handler(worker_, &param);
  if (status != UCS_OK) ThrowStatus(env, status, "ucp_worker_set_am_recv_handler");
  return env.Undefined();
}

// connect(ip, port, peerErrors): NativeEndpoint -> ucp_ep_create(UCP_EP_PARAM_FIELD_SOCK_ADDR, client-server)
Napi::Value Worker::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  std::string host = info[0].As<Napi::String>();
  int port = info[1].As<Napi::Number>().Int32Value();
  sockaddr_storage address;
  socklen_t length;
  if (!ParseSockaddr(host, port, &address, &length)) {
    ThrowStatus(env, UCS_ERR_INVALID_ADDR, ("connect: not an IP address: " + host).c_str());
    return env.Undefined();
  }
  Napi::Object object = Addon::Of(env).endpoint_ctor.New({Value()});
  ucp_ep_params_t params = {};
  params.field_mask = UCP_EP_PARAM_FIELD_SOCK_ADDR | UCP_EP_PARAM_FIELD_FLAGS;
  params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
  params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
  params.sockaddr.addrlen = length;
  if (!Endpoint::Unwrap(object)->Create(params, info[2].As<Napi::Boolean>().Value())) return env.Undefined();
  return object;
}

// connectAddress(workerAddress, peerErrors): NativeEndpoint ->
// ucp_ep_create(UCP_EP_PARAM_FIELD_REMOTE_ADDRESS)
Napi::Value Worker::ConnectAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  Napi::Uint8Array address = info[0].As<Napi::Uint8Array>();
  Napi::Object object = Addon::Of(env).endpoint_ctor.New({Value()});
  ucp_ep_params_t params = {};
  params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
  params.address = reinterpret_cast<const ucp_address_t*>(address.Data());
  if (!Endpoint::Unwrap(object)->Create(params, info[1].As<Napi::Boolean>().Value())) return env.Undefined();
  return object;
}

// listen(ip, port): NativeListener -> ucp_listener_create
Napi::Value Worker::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  std::string host = info[0].As<Napi::String>();
  int port = info[1].As<Napi::Number>().Int32Value();
  sockaddr_storage address;
  socklen_t length;
  if (!ParseSockaddr(host, port, &address, &length)) {
    ThrowStatus(env, UCS_ERR_INVALID_ADDR, ("listen: not an IP address: " + host).c_str());
    return env.Undefined();
  }
  Napi::Object object = Addon::Of(env).listener_ctor.New({Value()});
  if (!Listener::Unwrap(object)->Create(reinterpret_cast<const sockaddr*>(&address), length))
    return env.Undefined();
  return object;
}

// stats(): [pendingRequests, probeWaiters, endpoints, listeners, referenced, abandonedRequests]
Napi::Value Worker::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env, 6);
  result.Set(0u, Napi::Number::New(env, LiveRequests()));
  result.Set(1u, Napi::Number::New(env, waiters_.size()));
  result.Set(2u, Napi::Number::New(env, endpoints_.size()));
  result.Set(3u, Napi::Number::New(env, listeners_.size()));
  result.Set(4u, Napi::Boolean::New(env, referenced_));
  result.Set(5u, Napi::Number::New(env, abandoned_count_));
  return result;
}

// maxAmHeader(): number -> ucp_worker_query(UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER)
Napi::Value Worker::MaxAmHeader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NUCX_REQUIRE_OPEN(env);
  ucp_worker_attr_t attr = {};
  attr.field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER;
  ucs_status_t status = ucp_worker_query(worker_, &attr);
  if (status != UCS_OK) {
    ThrowStatus(env, status, "ucp_worker_query");
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(attr.max_am_header));
}

void Worker::AddListener(Listener* listener) {
  listeners_.insert(listener);
  UpdateHandles();
}

void Worker::RemoveListener(Listener* listener) {
  listeners_.erase(listener);
  UpdateHandles();
}

// close(): Promise<void> -> cancels what is pending, destroys endpoints, listeners, uv handles,
// ucp_worker_destroy
Napi::Value Worker::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(env, &deferred, &promise);
  // Closed already, or closing right now (a close() from inside the close: nothing left to do).
  if (worker_ == nullptr || handles_ == nullptr || shutting_down_) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, deferred, undefined);
    return Napi::Value(env, promise);
  }
  handles_->on_closed = deferred;
  Shutdown(true);
  return Napi::Value(env, promise);
}

void Worker::Shutdown(bool settle) {
  if (worker_ == nullptr) return;
  shutting_down_ = true;
  napi_env env = env_;
  // Endpoints and listeners first: their pending sends complete (canceled) here.
  std::vector<Endpoint*> endpoints;
  for (auto& entry : endpoints_) endpoints.push_back(entry.second);
  for (Endpoint* endpoint : endpoints) endpoint->Abandon();
  std::vector<Listener*> listeners(listeners_.begin(), listeners_.end());
  for (Listener* listener : listeners) listener->Destroy();
  // Cancel receives, and give UCX a bounded chance to report every request.
  for (Request* r = pending_head_; r != nullptr; r = r->next) {
    if (!r->done) ucp_request_cancel(worker_, r);
  }
  for (int i = 0; i < 64 && ucp_worker_progress(worker_) != 0; i++) {
  }
  if (settle) {
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    delivering_ = false;
    RejectPending();
    RejectProbeWaiters();
    ReleaseQueuedEvents();
    napi_close_handle_scope(env, scope);
  } else {
    ReleasePending();  // env teardown: JS can no longer run
  }
  pending_head_ = nullptr;
  pending_count_ = 0;
  abandoned_count_ = 0;
  completed_.clear();
  waiters_.clear();
  events_.clear();
  cancellable_.clear();

  // Stop watching the efd before the worker that owns it goes away.
  CloseLoopHandles();
  for (auto& entry : am_slots_) {
    ClearAmQueue(entry.second.get(), settle ? static_cast<napi_value>(MakeCodedError(env_, "ERR_UCX_CLOSED",
                                                                                     "the Worker was closed"))
                                            : nullptr);
    ucp_am_handler_param_t param = {};
    param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB;
    param.id = entry.first;
    param.cb = nullptr;
    ucp_worker_set_am_recv_handler(worker_, &param);
    if (settle && entry.second->allocator != nullptr) napi_delete_reference(env_, entry.second->allocator);
    entry.second->allocator = nullptr;
  }
  ucp_worker_destroy(worker_);
  worker_ = nullptr;
  Addon::Of(Napi::Env(env)).workers.erase(this);
  context_->RemoveWorker();
  if (settle) {
    context_ref_.Reset();
    handler_.Reset();
  }
}

}  // namespace nucx
