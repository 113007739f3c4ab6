// Probe waiters (Worker's member functions in probe.cc): tagRecvMessage, a receive of unknown
// size. A waiter queues until ucp_tag_probe_nb finds a matching message, which is then received
// with ucp_tag_msg_recv_nbx into a Buffer of the message's length.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>

#include <cstdint>

namespace nucx {

struct ProbeWaiter {
  ucp_tag_t tag;
  ucp_tag_t mask;
  napi_deferred deferred;
  uint32_t cancel_id;
  bool data_only;       // resolve with the Buffer alone (kTagMessageData)
  size_t max_length;    // a longer message is received only to be dropped, and the waiter rejects (truncated)
  bool notify = false;  // tagWait: resolves (undefined) once a match is queued, and leaves it there
};

}  // namespace nucx
