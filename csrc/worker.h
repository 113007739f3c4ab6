// ucp_worker: one class, its member functions defined by job:
//   worker.cc      the JS surface: construction, the exported methods, close() and Shutdown
//   progress.cc    the progress engine: libuv handles and the three progress modes, which
//                  progress.h describes, and delivery of each batch
//   completion.cc  requests: Submit, the completion callbacks, Settle
//   events.cc      endpoint errors, connection requests and active messages: queueing, delivery
//   probe.cc       probe waiters: tagRecvMessage's receive of unknown size
//
// Completion callbacks only record the result; completions, connection
// requests, endpoint errors and active messages are delivered to JS in one
// batch inside a callback scope, so awaiting code continues at once.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>
#include <uv.h>

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "events.h"
#include "probe.h"
#include "progress.h"
#include "request.h"

namespace nucx {

class Context;
class Endpoint;
class Listener;
class Addon;
struct BatchState;
struct FastCall;
struct FastTarget;

// What the worker's fast receives (fastpath.cc) leave for TS besides their return value: a
// Uint8Array(32) that TS reads as a BigUint64Array(1) and a Float64Array(3).
struct FastScratch {
  uint64_t tag;          // tryTagRecv: the sender's tag
  double count;          // tagRecvBatch: messages taken (also when the result is a Promise)
  double head_length;    // tagRecvBatch: the length of a queued message too long for a slot, or -1
  double header_length;  // amTryRecv: the header's length
};
static_assert(sizeof(FastScratch) == 32, "TS views the scratch as 32 bytes");

class Worker : public Napi::ObjectWrap<Worker> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Worker(const Napi::CallbackInfo& info);
  ~Worker() override;

  ucp_worker_h handle() const { return worker_; }
  bool closed() const { return worker_ == nullptr; }
  Context* context() const { return context_; }

  // Closes endpoints, listeners and handles and destroys the ucp_worker.
  // `settle` rejects pending promises (false during env teardown, when JS can't run).
  void Shutdown(bool settle);

  // ---- requests (completion.cc) ----
  // The tail of every *_nbx call: settles the fast path or turns the request
  // into a pending promise. Returns undefined for inline success (with the
  // inline result written by the caller), throws for an inline error.
  napi_value Submit(ucs_status_ptr_t status_ptr, RequestKind kind, Endpoint* endpoint, const Holds& holds,
                    const char* what, uint32_t cancel_id = 0, BatchState* batch = nullptr);
  // The tail of a fast-path call: true (completed inline), false (pending: counted on `batch`, no
  // promise), or a throw (inline failure).
  napi_value SubmitToBatch(ucs_status_ptr_t status_ptr, RequestKind kind, Endpoint* endpoint,
                           const Holds& holds, BatchState* batch, const char* what);
  // A fast-path request UCX did not complete inline: counted on `batch` and tracked.
  void PendInBatch(Request* request, Endpoint* endpoint, BatchState* batch) {
    request->endpoint = endpoint;
    CountInBatch(request, batch);
    Track(request);
  }
  // Operand and reply storage for atomics, reused: one that completes inline allocates nothing.
  uint64_t* TakeAtomicStorage() {
    if (atomic_pool_.empty()) return new uint64_t[2];
    uint64_t* storage = atomic_pool_.back();
    atomic_pool_.pop_back();
    return storage;
  }
  void ReturnAtomicStorage(uint64_t* storage) {
    if (atomic_pool_.size() < 16)
      atomic_pool_.push_back(storage);
    else
      delete[] storage;
  }

  // ---- the fast receives (fastpath.cc): bound functions made by fastOps() ----
  napi_value FastTryTagRecv(napi_env env, FastCall& call);
  napi_value FastTagRecvBatch(napi_env env, FastCall& call);
  napi_value FastAmTryRecv(napi_env env, FastCall& call);
  napi_value FastTagRecv(napi_env env, FastCall& call);
  // An endpoint closes or failed: its requests UCX has not completed reject now with `error`
  // (null: ERR_UCX_CLOSED) and stay with UCX until it completes them, keeping their memory.
  void AbandonRequests(Endpoint* endpoint, napi_value error);
  // One request: its promise settles now (rejects with `error`, resolves if null).
  void Abandon(Request* request, napi_value error);

  // Completion callbacks (called by UCX inside ucp_worker_progress).
  static void OnSend(void* request, ucs_status_t status, void* user_data);
  static void OnTagRecv(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info, void* user_data);
  static void OnStreamRecv(void* request, ucs_status_t status, size_t length, void* user_data);

  // A completion callback ran: queue the request for delivery.
  void Completed(Request* request) { completed_.push_back(request); }

  // ---- the worker's endpoints and listeners (worker.cc), which events name ----
  void AddEndpoint(ucp_ep_h ep, Endpoint* endpoint) { endpoints_[ep] = endpoint; }
  void RemoveEndpoint(ucp_ep_h ep) { endpoints_.erase(ep); }
  void AddListener(Listener* listener);
  void RemoveListener(Listener* listener);

  // ---- events (events.cc), queued from the endpoints' and listeners' UCX callbacks ----
  void QueueEndpointError(Endpoint* endpoint, ucs_status_t status);
  void QueueConnRequest(Listener* listener, ucp_conn_request_h request);
  // A listener or an endpoint goes: the events not yet delivered stop naming it.
  void Forget(Listener* listener, Endpoint* endpoint);

 private:
  // ---- the JS surface (worker.cc) ----
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Progress(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Fence(const Napi::CallbackInfo& info);
  Napi::Value TagRecv(const Napi::CallbackInfo& info);
  Napi::Value TagRecvMessage(const Napi::CallbackInfo& info);
  Napi::Value TagProbe(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value SetAmHandler(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value ConnectAddress(const Napi::CallbackInfo& info);
  Napi::Value Listen(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value MaxAmHeader(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // ---- batches (batch.cc) ----
  Napi::Value CreateBatch(const Napi::CallbackInfo& info);
  Napi::Value WaitBatch(const Napi::CallbackInfo& info);
  Napi::Value TakeBatchError(const Napi::CallbackInfo& info);
  Napi::Value CancelBatch(const Napi::CallbackInfo& info);
  void CountInBatch(Request* request, BatchState* batch);
  void BatchOpDone(Request* request, napi_value error);

  // ---- the fast path (fastpath.cc) ----
  Napi::Value FastOps(const Napi::CallbackInfo& info);
  Napi::Value TagWait(const Napi::CallbackInfo& info);
  unsigned ProgressOnce();
  void DeliverFromCall();

  // ---- the progress engine (progress.cc) ----
  void OpenLoopHandles(int efd);
  void CloseLoopHandles();
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnPrepare(uv_prepare_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static void OnFallback(uv_timer_t* handle);
  unsigned ProgressUntilIdle();
  bool HasDeliverables() const {
    return !completed_.empty() || !events_.empty() || (!waiters_.empty() && probe_due_) || am_due_;
  }
  // Runs from libuv: progress, then deliver inside a callback scope. Returns true on activity.
  bool RunFromLoop(JsGate& gate);
  // The batch: completions first, then probe waiters, then events.
  void Deliver();
  void Spin();
  // event and adaptive: keep progressing for spin_ns_ after activity before arming, so that a reply
  // within it costs no wake-up (poll spins whenever work is outstanding).
  bool SpinsAfterActivity() const { return mode_ != ProgressMode::kPoll && spin_ns_ > 0; }
  void StartSpinning();
  void UpdateHandles();

  // ---- requests (completion.cc) ----
  static void OnAmData(void* request, ucs_status_t status, size_t length, void* user_data);
  void Track(Request* request);
  void Untrack(Request* request);
  void Settle(Request* request);
  napi_value ResultOf(Request* request);
  void RejectPending();
  void ReleasePending();

  // ---- events (events.cc) ----
  static ucs_status_t OnActiveMessage(void* arg, const void* header, size_t header_length, void* data,
                                      size_t length, const ucp_am_recv_param_t* param);
  void DeliverEvent(Event& event);
  void DeliverActiveMessage(Event& event);
  void ReceiveAmData(Event& event);
  void CompleteAmData(Request* request);
  void DiscardAmData(Request* request);
  void EmitActiveMessage(Event& event, napi_value data, ucs_status_t status);
  void CallHandler(std::initializer_list<napi_value> args);
  napi_value EndpointValue(ucp_ep_h ep);
  void ReleaseQueuedEvents();
  // Queued slots (activeMessageQueue): messages wait for amTryRecv.
  ucs_status_t QueueActiveMessage(AmSlot* slot, const void* header, size_t header_length, void* data,
                                  size_t length, const ucp_am_recv_param_t* param);
  void ReleaseQueuedAm(QueuedAm& message);
  void ResolveAmWaiters();
  void ClearAmQueue(AmSlot* slot, napi_value error);
  bool CancelAmWaiter(uint32_t cancel_id);
  Napi::Value AmWait(const Napi::CallbackInfo& info);
  Napi::Value AmQueueClear(const Napi::CallbackInfo& info);

  // ---- probe waiters (probe.cc) ----
  void ServiceProbeWaiters();
  void StartMessageRecv(ucp_tag_message_h message, const ucp_tag_recv_info_t& info,
                        const ProbeWaiter& waiter);
  bool CancelProbeWaiter(uint32_t cancel_id);
  void RejectProbeWaiters();

  // The ucp_worker and what it belongs to.
  Napi::Env env_;
  Context* context_ = nullptr;
  Napi::ObjectReference context_ref_;
  Napi::FunctionReference handler_;  // the JS event handler: handler(kind, ...args)
  Napi::AsyncContext async_context_;
  ucp_worker_h worker_ = nullptr;
  bool shutting_down_ = false;  // requests cancelled by close() reject as ERR_UCX_CLOSED

  // The progress engine.
  LoopHandles* handles_ = nullptr;
  ProgressMode mode_ = ProgressMode::kEvent;
  uint64_t spin_ns_ =
      0;  // poll: one slice; event, adaptive: the budget after activity (event: 0 = arm at once)
  uint64_t fallback_ms_ = 5;
  // How long a spinning worker stays idle before it yields the CPU (sched_yield), and again each time as
  // long; 0: after every idle round, as Open MPI's ranks do when oversubscribed.
  uint64_t yield_ns_ = 8000;
  uint64_t last_activity_ns_ = 0;
  bool spinning_ = false;
  bool fallback_running_ = false;
  bool referenced_ = false;
  bool delivering_ = false;
  int spinning_handlers_ = 0;  // AM handlers a poll-mode worker keeps spinning for (arrivals, not requests)

  // Requests.
  Request* pending_head_ = nullptr;  // intrusive list of every pending request
  size_t pending_count_ = 0;
  size_t abandoned_count_ = 0;  // of those, settled already (Abandon): they keep nothing alive
  // Requests that keep the worker busy: those a promise still waits for.
  size_t LiveRequests() const { return pending_count_ - abandoned_count_; }
  std::vector<Request*> completed_;
  std::unordered_map<uint32_t, Request*> cancellable_;

  // Events, and the objects they name.
  std::vector<Event> events_;
  std::vector<Event>* delivering_events_ =
      nullptr;  // the batch Deliver is handing to JS, from delivering_next_
  size_t delivering_next_ = 0;
  std::unordered_map<ucp_ep_h, Endpoint*> endpoints_;
  std::unordered_set<Listener*> listeners_;
  std::unordered_map<uint16_t, std::unique_ptr<AmSlot>> am_slots_;
  bool am_due_ = false;    // a queued slot with a waiter got a message: resolve it in the next delivery
  size_t am_waiters_ = 0;  // queued slots with a waiter (they keep the worker busy, like probe waiters)

  // Probe waiters.
  std::deque<ProbeWaiter> waiters_;
  bool probe_due_ = false;  // progress saw activity: serve the waiters in the next delivery

  // The fast path.
  FastTarget* fast_ = nullptr;      // shared with the bound functions of fastOps()
  FastScratch* scratch_ = nullptr;  // TS's scratch (fastOps), pinned by scratch_memory_
  PinnedMemory scratch_memory_;
  std::vector<uint64_t*> atomic_pool_;
};

}  // namespace nucx
