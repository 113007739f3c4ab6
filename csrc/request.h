// An in-flight UCP operation. It lives inside UCX's own request memory
// (ucp_params.request_size), so a pending operation costs no allocation of
// ours; it pins the JS buffer UCX reads or writes and holds the promise that
// the worker settles when the completion is delivered.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>

#include <cstdint>

namespace nucx {

class Worker;
class Endpoint;

enum class RequestKind : uint8_t {
  kSend,         // resolves undefined
  kTagRecv,      // resolves { length, tag }
  kTagRecvLength,  // resolves length (a receive whose tag the caller knows: no result object)
  kTagMessage,   // resolves { data, tag } (data allocated by us)
  kTagMessageData,  // resolves data (likewise)
  kStreamRecv,   // resolves length
  kAmData,       // rendezvous AM payload; delivers the AM event when done
  kFetch,        // atomic fetch: resolves bigint from `result`
  kClose,        // ep close; resolves undefined
};

struct Request {
  Worker* worker;
  Endpoint* endpoint;        // the ep whose op this is, or null for worker-level ops
  napi_deferred deferred;    // settled on delivery
  napi_ref pin;              // keeps the user's buffer alive while UCX uses it
  napi_ref extra;            // kTagMessage(Data): the Buffer being filled; kAmData: the AM event
  Request* prev;             // worker's list of pending requests
  Request* next;
  ucs_status_t status;
  RequestKind kind;
  bool done;                 // completion callback ran
  uint32_t cancel_id;        // non-zero when JS may cancel it (AbortSignal)
  size_t length;
  ucp_tag_t tag;
  uint64_t* atomic;          // kFetch: heap {operand, reply}; UCX reads and writes it until completion
  uint8_t atomic_size;       // 4 or 8
};

// Called by UCX when its request pool first allocates a request (ucp_params.request_init).
void InitRequest(void* request);

// Takes over a request an *_nbx call returned. UCX recycles request memory
// without calling request_init again, so every use starts from a clean slate.
// (The completion callback only ever runs later, from ucp_worker_progress.)
Request* ClaimRequest(void* request, Worker* worker, RequestKind kind);

// A data argument: an ArrayBufferView (host memory) or a BigInt device pointer
// with an explicit length. `pinnable` is the JS value to pin for host data.
struct DataArg {
  void* ptr = nullptr;
  size_t length = 0;
  napi_value pinnable = nullptr;
};

// Reads (view) or (bigint ptr, length). Throws a TypeError and returns false otherwise.
bool ReadData(Napi::Env env, napi_value value, napi_value length, DataArg* out);

}  // namespace nucx
