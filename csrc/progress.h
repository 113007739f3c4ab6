// The progress engine: how UCX progress fits into libuv (Worker's member functions in progress.cc).
//
//   event     uv_poll on ucp_worker_get_efd(); progress on wake-up; arm in a
//             uv_prepare right before the loop blocks (progress, arm, and if
//             arm says BUSY progress again). A fallback timer runs only while
//             requests are outstanding, against a missed wake-up.
//   poll      as event, plus a uv_idle that spins ucp_worker_progress in
//             slices while requests are outstanding (the loop never blocks).
//   adaptive  as event, plus spinning for a short budget after each burst of
//             activity, then arm and sleep.
#pragma once
#include <napi.h>
#include <uv.h>

namespace nucx {

class Addon;
class Worker;

enum class ProgressMode : int { kEvent = 0, kPoll = 1, kAdaptive = 2 };

// The libuv handles live apart from the Worker: uv_close is asynchronous, and
// the memory must outlive the Worker when it is collected or torn down.
struct LoopHandles {
  uv_poll_t poll;
  uv_prepare_t prepare;
  uv_idle_t idle;
  uv_timer_t fallback;
  int open = 0;
  napi_env env = nullptr;
  napi_deferred on_closed = nullptr;  // Worker.close() promise, settled once every handle is closed
  Worker* worker = nullptr;           // cleared when the Worker goes away first
  Addon* addon = nullptr;
};

// Whether JS may run, asked at most once per libuv callback (see CanRunJs in progress.cc): teardown
// begins between loop iterations, so one answer holds for the whole callback, and a spinning
// worker delivers many times per callback.
class JsGate {
 public:
  explicit JsGate(napi_env env) : env_(env) {}
  bool Open();

 private:
  napi_env env_;
  int state_ = -1;  // -1: not asked yet, 0: closed, 1: open
};

}  // namespace nucx
