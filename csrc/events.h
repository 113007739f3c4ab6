// What the worker hands to its JS handler besides completions (Worker's member functions in
// events.cc): endpoint errors, connection requests and active messages. UCX's callbacks queue an
// Event; Deliver hands the queue to JS in order, after the batch's completions.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>

#include <cstdint>
#include <deque>
#include <string>

namespace nucx {

class Endpoint;
class Listener;
class Worker;

// Event kinds passed to the JS event handler: handler(kind, ...args). src/native.ts mirrors them.
enum EventKind : int {
  kEventEndpointError = 1,  // (nativeEndpoint, UCXError)
  kEventConnRequest =
      2,  // (nativeListener, connRequest: External, clientAddress: string, clientPort: number)
  kEventActiveMessage =
      3,  // (id, header: Buffer, data: Buffer | null, length, replyEndpoint | null, UCXError | null)
};

// Where an active message's payload is between UCX's callback and delivery.
enum class AmDataMode : uint8_t {
  kNone,        // no payload
  kCopy,        // a malloc'd copy: UCX's bytes are valid only inside the callback
  kPersistent,  // UCX's own bytes (UCP_AM_RECV_ATTR_FLAG_DATA), kept until ucp_am_data_release
  kRendezvous,  // a descriptor (UCP_AM_RECV_ATTR_FLAG_RNDV): fetched with ucp_am_recv_data_nbx at delivery
  kReceived,    // a rendezvous payload that has arrived: `received` holds what the handler gets as data
};

struct Event {
  EventKind kind;
  Endpoint* endpoint = nullptr;
  Listener* listener = nullptr;
  ucp_conn_request_h conn_request = nullptr;
  ucs_status_t status = UCS_OK;
  // active messages
  uint16_t am_id = 0;
  std::string header;
  void* data = nullptr;  // see am_data_mode
  size_t length = 0;
  AmDataMode am_data_mode = AmDataMode::kNone;
  napi_ref received = nullptr;  // kReceived
  ucp_ep_h reply_ep = nullptr;
};

// One ucp_worker_set_am_recv_handler registration: the callback's argument.
// An active message waiting in a queued slot (worker.activeMessageQueue) for amTryRecv.
struct QueuedAm {
  std::string header;
  void* data = nullptr;  // see mode (kNone, kCopy, kPersistent or kRendezvous)
  size_t length = 0;
  AmDataMode mode = AmDataMode::kNone;
};

struct AmSlot {
  Worker* worker;
  uint16_t id;
  bool spins = false;
  napi_ref allocator =
      nullptr;  // JS: (length, header) => [target, memoryType, value] | null, for rendezvous payloads
  // Queued (activeMessageQueue): messages wait in `queue` for amTryRecv (fastpath.cc) instead of
  // going to the handler, and amWait's waiter resolves once one is there.
  bool queued = false;
  std::deque<QueuedAm> queue;
  napi_deferred waiter = nullptr;
  uint32_t waiter_cancel_id = 0;
};

}  // namespace nucx
