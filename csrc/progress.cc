#include "progress.h"

#include <sched.h>
#include <time.h>

#include "addon.h"
#include "worker.h"

namespace nucx {

// False while the environment is being torn down (worker_threads terminate, process exit):
// Node runs the loop once more then, but JS may no longer run. napi_call_function is guarded
// by exactly that check, so calling a native no-op asks the question without side effects.
static bool CanRunJs(napi_env env, napi_ref noop) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  napi_value fn, recv, result;
  bool ok = napi_get_reference_value(env, noop, &fn) == napi_ok && fn != nullptr &&
            napi_get_undefined(env, &recv) == napi_ok &&
            napi_call_function(env, recv, fn, 0, nullptr, &result) == napi_ok;
  napi_close_handle_scope(env, scope);
  return ok;
}

bool JsGate::Open() {
  if (state_ < 0) state_ = CanRunJs(env_, Addon::Of(env_).noop) ? 1 : 0;
  return state_ == 1;
}

static uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// The four handles on the env's loop (what each is for: progress.h). The poll handle watches
// the efd from now on; the prepare handle arms the worker before the loop first blocks.
void Worker::OpenLoopHandles(int efd) {
  Napi::Env env = env_;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  handles_ = new LoopHandles();
  handles_->env = env;
  handles_->worker = this;
  handles_->addon = &Addon::Of(env);
  handles_->addon->LoopHandlesOpened();
  uv_poll_init(loop, &handles_->poll, efd);
  uv_prepare_init(loop, &handles_->prepare);
  uv_idle_init(loop, &handles_->idle);
  uv_timer_init(loop, &handles_->fallback);
  handles_->open = 4;
  for (uv_handle_t* h :
       {reinterpret_cast<uv_handle_t*>(&handles_->poll), reinterpret_cast<uv_handle_t*>(&handles_->prepare),
        reinterpret_cast<uv_handle_t*>(&handles_->idle),
        reinterpret_cast<uv_handle_t*>(&handles_->fallback)}) {
    h->data = this;
    uv_unref(h);  // an idle worker never keeps the process alive
  }
  uv_poll_start(&handles_->poll, UV_READABLE, OnPoll);
  uv_prepare_start(&handles_->prepare, OnPrepare);
}

static void OnHandleClosed(uv_handle_t* handle) {
  auto* handles = static_cast<LoopHandles*>(handle->data);
  if (--handles->open > 0) return;
  if (handles->on_closed != nullptr && CanRunJs(handles->env, handles->addon->noop)) {
    // Settle inside a callback scope, or the awaiting code stalls until
    // something else runs the microtask queue (nodejs/node#15604).
    napi_env env = handles->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value resource, name, undefined;
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "node-ucx:Worker.close", NAPI_AUTO_LENGTH, &name);
    napi_async_context context;
    napi_async_init(env, resource, name, &context);
    napi_callback_scope callback_scope;
    napi_open_callback_scope(env, resource, context, &callback_scope);
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, handles->on_closed, undefined);
    napi_close_callback_scope(env, callback_scope);
    napi_async_destroy(env, context);
    napi_close_handle_scope(env, scope);
  }
  Addon* addon = handles->addon;
  delete handles;
  addon->LoopHandlesClosed();
}

// The handles close asynchronously; the last close callback settles close()'s promise
// (handles->on_closed) and frees them.
void Worker::CloseLoopHandles() {
  if (handles_ == nullptr) return;
  LoopHandles* handles = handles_;
  handles_ = nullptr;
  handles->worker = nullptr;
  for (uv_handle_t* h :
       {reinterpret_cast<uv_handle_t*>(&handles->poll), reinterpret_cast<uv_handle_t*>(&handles->prepare),
        reinterpret_cast<uv_handle_t*>(&handles->idle), reinterpret_cast<uv_handle_t*>(&handles->fallback)}) {
    h->data = handles;
    uv_close(h, OnHandleClosed);
  }
}

unsigned Worker::ProgressUntilIdle() {
  unsigned total = 0;
  for (int i = 0; i < 1024; i++) {
    unsigned n = ucp_worker_progress(worker_);
    if (n == 0) break;
    total += n;
  }
  if (total > 0 && !waiters_.empty()) probe_due_ = true;
  return total;
}

void Worker::Deliver() {
  if (delivering_) return;  // a JS handler called progress(); the outer delivery finishes the batch
  delivering_ = true;
  // Requests first: an endpoint's failed operations reject before its 'error' event.
  for (size_t i = 0; i < completed_.size(); i++) Settle(completed_[i]);
  completed_.clear();
  if (probe_due_) ServiceProbeWaiters();
  if (am_due_) ResolveAmWaiters();
  if (!events_.empty()) {
    // A handler may close the worker, an endpoint or a listener: ReleaseQueuedEvents and Forget
    // then reach the rest of this batch through delivering_events_.
    std::vector<Event> events;
    events.swap(events_);
    delivering_events_ = &events;
    for (delivering_next_ = 0; delivering_next_ < events.size();) DeliverEvent(events[delivering_next_++]);
    delivering_events_ = nullptr;
  }
  delivering_ = false;
  UpdateHandles();
}

bool Worker::RunFromLoop(JsGate& gate) {
  if (worker_ == nullptr) return false;
  unsigned n = ProgressUntilIdle();
  if (!HasDeliverables()) return n > 0;
  if (!gate.Open()) return false;  // teardown: the cleanup hook releases what is queued
  Napi::HandleScope scope(env_);
  {
    // Microtasks (the awaiting code) run when this scope closes.
    Napi::CallbackScope callback_scope(env_, async_context_);
    Deliver();
  }
  return true;
}

void Worker::OnPoll(uv_poll_t* handle, int status, int events) {
  Worker* self = static_cast<Worker*>(handle->data);
  JsGate gate(self->env_);
  if (self->RunFromLoop(gate) && self->SpinsAfterActivity()) self->StartSpinning();
}

void Worker::OnFallback(uv_timer_t* handle) {
  Worker* self = static_cast<Worker*>(handle->data);
  JsGate gate(self->env_);
  self->RunFromLoop(gate);
}

void Worker::OnIdle(uv_idle_t* handle) { static_cast<Worker*>(handle->data)->Spin(); }

// Arm right before the loop blocks: drain, arm, and drain again while UCX says BUSY.
void Worker::OnPrepare(uv_prepare_t* handle) {
  Worker* self = static_cast<Worker*>(handle->data);
  if (self->worker_ == nullptr || self->spinning_) return;  // a spinning loop does not block
  JsGate gate(self->env_);
  for (int attempt = 0; attempt < 64; attempt++) {
    bool active = self->RunFromLoop(gate);
    if (self->worker_ == nullptr) return;
    if (active && self->SpinsAfterActivity()) {
      self->StartSpinning();
      return;
    }
    if (self->spinning_) return;
    ucs_status_t status = ucp_worker_arm(self->worker_);
    if (status == UCS_OK) return;
    if (status != UCS_ERR_BUSY) break;
  }
  // Could not arm: come back on the next turn instead of sleeping on an unarmed fd.
  self->StartSpinning();
}

void Worker::StartSpinning() {
  last_activity_ns_ = NowNs();
  if (!spinning_ && handles_ != nullptr) {
    spinning_ = true;
    uv_idle_start(&handles_->idle, OnIdle);
  }
}

// A spinning worker reads the clock only every few idle rounds: on some VMs clock_gettime costs
// more than a ucp_worker_progress that finds nothing (22 % of a poll-mode ping-pong's samples).
static constexpr unsigned kRoundsPerClockRead = 8;
// How long a spinning worker stays idle before it yields the CPU once (and again each time as long)
// is yield_ns_ (default 8 µs, WorkerOptions.yieldUs). With more processes than cores (4 MPI ranks on 2)
// a spin that never yields starves the very peer it waits for (waiting 20 µs before the first yield cost
// a 4-rank barrier 40 %); a reply within the first microseconds is caught without a system call on its
// path. 0 yields after every idle round.

// poll: spin while requests are outstanding; event and adaptive: spin until the
// budget since the last activity is spent. One call spins at most one slice, so
// timers and other I/O still get their turn.
void Worker::Spin() {
  uint64_t now = NowNs();
  uint64_t slice_end = now + (mode_ == ProgressMode::kPoll ? spin_ns_ : 200000);
  unsigned idle_rounds = 0;
  uint64_t idle_since = now;
  JsGate gate(env_);
  for (;;) {
    if (worker_ == nullptr) return;
    if (RunFromLoop(gate)) {
      now = NowNs();
      last_activity_ns_ = now;
      idle_since = now;
      idle_rounds = 0;
    } else {
      // yield_ns_ 0: yield after every round that found nothing, as Open MPI's oversubscribed ranks do
      // (opal_progress: sched_yield when no event), so a rank waiting for a peer that is not running
      // hands it the CPU at once instead of spending it on idle rounds.
      if (yield_ns_ == 0) sched_yield();
      if (++idle_rounds % kRoundsPerClockRead != 0) continue;
      now = NowNs();
      if (yield_ns_ != 0 && now - idle_since >= yield_ns_) {
        sched_yield();
        idle_since = now;
      }
    }
    bool keep = false;
    if (mode_ == ProgressMode::kPoll)
      keep = LiveRequests() > 0 || !waiters_.empty() || am_waiters_ > 0 || spinning_handlers_ > 0;
    else
      keep = now - last_activity_ns_ < spin_ns_;  // event and adaptive: the budget after the last activity
    if (!keep) {
      spinning_ = false;
      if (handles_ != nullptr) uv_idle_stop(&handles_->idle);
      return;
    }
    if (now >= slice_end) return;
  }
}

// Keeps the loop alive only while work is outstanding or a listener is open, and runs the
// fallback timer (every mode) and the spinner (poll mode) then. Abandoned requests are not work:
// nobody waits for them.
void Worker::UpdateHandles() {
  if (handles_ == nullptr || worker_ == nullptr) return;
  bool busy = LiveRequests() > 0 || !waiters_.empty() || am_waiters_ > 0;
  bool keep_alive = busy || !listeners_.empty();
  if (keep_alive != referenced_) {
    referenced_ = keep_alive;
    if (keep_alive)
      uv_ref(reinterpret_cast<uv_handle_t*>(&handles_->poll));
    else
      uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->poll));
  }
  if (mode_ == ProgressMode::kPoll && (busy || spinning_handlers_ > 0) && !spinning_) StartSpinning();
  bool want_fallback = busy && fallback_ms_ > 0;
  if (want_fallback != fallback_running_) {
    fallback_running_ = want_fallback;
    if (want_fallback)
      uv_timer_start(&handles_->fallback, OnFallback, fallback_ms_, fallback_ms_);
    else
      uv_timer_stop(&handles_->fallback);
  }
}

}  // namespace nucx
