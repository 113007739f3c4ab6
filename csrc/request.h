// An in-flight UCP operation. It lives inside UCX's own request memory
// (ucp_params.request_size), so a pending operation costs no allocation of
// ours; it keeps alive the memory UCX reads or writes and holds the promise
// that the worker settles when the completion is delivered.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>
#include <v8.h>

#include <cstdint>
#include <memory>

namespace nucx {

class Worker;
class Endpoint;
struct BatchState;

enum class RequestKind : uint8_t {
  kSend,            // resolves undefined
  kTagRecv,         // resolves { length, tag }
  kTagRecvLength,   // resolves length (a receive whose tag the caller knows: no result object)
  kTagMessage,      // resolves { data, tag } (data allocated by us)
  kTagMessageData,  // resolves data (likewise)
  kStreamRecv,      // resolves length
  kAmData,          // rendezvous AM payload; delivers the AM event when done
  kFetch,           // atomic fetch: resolves bigint from `result`
  kClose,           // ep close; resolves undefined
  kDiscard,         // a message received only to drop it (tagRecvMessage over maxLength); no promise
  kAmRecv,          // amTryRecv's rendezvous payload: resolves length
};

// The memory behind a view, kept alive while UCX uses it. Pinning the view (or its ArrayBuffer)
// is not enough: transferring the ArrayBuffer (postMessage, structuredClone) detaches it, and the
// memory then belongs to the ArrayBuffer that received it, which may be collected while UCX still
// writes there. The backing store is what owns the bytes. (V8's API: N-API has no equivalent.)
using PinnedMemory = std::shared_ptr<v8::BackingStore>;

// What a pending request keeps for UCX until it completes: the memory of up to two views (an
// active message's header and data), one JS object (an endpoint's close keeps its wrapper),
// and an atomic's operand and reply.
struct Holds {
  napi_value views[2] = {nullptr, nullptr};
  napi_value object = nullptr;
  uint64_t* atomic = nullptr;  // heap {operand, reply}, freed on settle
  uint8_t atomic_size = 0;
};

struct Request {
  Worker* worker;
  Endpoint* endpoint;  // the ep whose op this is (its close abandons it), or null for worker-level ops
  napi_deferred
      deferred;  // settled on delivery; null once abandoned, or for a fast-path op without a promise
  BatchState*
      batch;       // a fast-path op: the batch that counts it (batch.h), until it completes or is abandoned
  napi_ref pin;    // Holds::object
  napi_ref extra;  // kTagMessage(Data): the Buffer being filled; kAmData: the AM event
  PinnedMemory memory[2];  // Holds::views
  Request* prev;           // worker's list of pending requests
  Request* next;
  ucs_status_t status;
  RequestKind kind;
  bool done;           // completion callback ran
  bool abandoned;      // its promise already settled (endpoint closed); UCX still owns it
  uint32_t cancel_id;  // non-zero when JS may cancel it (AbortSignal)
  size_t length;
  ucp_tag_t tag;
  uint64_t* atomic;      // kFetch: heap {operand, reply}; UCX reads and writes it until completion
  uint8_t atomic_size;   // 4 or 8
  uint32_t* length_out;  // Batch.tagRecv: where the received length goes (in memory[1], pinned)
};

// Called by UCX when its request pool first allocates a request (ucp_params.request_init).
void InitRequest(void* request);

// Takes over a request an *_nbx call returned. Its completion callback may already have run,
// inside that call: a receive that matches a multi-fragment eager message whose fragments are all
// queued completes there and still returns the request (UCX 1.13 ucp_tag_recv_eager_multi, and
// ucp_tag_msg_recv_nbx likewise). The callback then finds no worker and only records the result;
// Worker::Track queues such a request for delivery at once.
Request* ClaimRequest(void* request, Worker* worker, RequestKind kind);

// Drops what the request still holds, wipes it clean for its next use (UCX recycles request
// memory without calling request_init again) and gives it back to UCX, which frees it once it
// completes. ucp_request_free disables the callback, so UCX never writes our part again.
void RecycleRequest(Request* request);

// The backing store of a view (host memory), for Request::memory; empty for anything else.
PinnedMemory PinMemory(napi_value view);

// A data argument: an ArrayBufferView (host memory) or a BigInt device pointer
// with an explicit length. `pinnable` is the view to pin for host data.
struct DataArg {
  void* ptr = nullptr;
  size_t length = 0;
  napi_value pinnable = nullptr;
};

// Reads (view) or (bigint ptr, length). Throws a TypeError and returns false otherwise, and for a
// view of a detached ArrayBuffer (TS refuses those too; this is the last line).
bool ReadData(Napi::Env env, napi_value value, napi_value length, DataArg* out);

}  // namespace nucx
