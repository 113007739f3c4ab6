// A batch (TS Batch, Worker's member functions in batch.cc): fast-path operations (fastpath.cc)
// that UCX did not complete inline, counted together instead of one promise each. One promise
// (waitBatch) settles once every counted operation has completed; failures are kept for it.
#pragma once
#include <napi.h>

#include <cstdint>

#include "request.h"

namespace nucx {

struct BatchState {
  uint32_t refs = 1;               // the JS External, and each request the batch counts
  uint32_t pending = 0;            // counted requests not yet complete (or abandoned)
  int32_t* counters = nullptr;     // TS's Int32Array(2): [0] pending, [1] failures since the last wait
  PinnedMemory counters_memory;    // its backing store
  napi_ref error = nullptr;        // the first failure since the last wait
  napi_deferred waiter = nullptr;  // waitBatch()'s promise, while requests are pending
};

void RetainBatch(BatchState* batch);
// Drops one reference; the last frees the state (and the error it still holds).
void ReleaseBatch(napi_env env, BatchState* batch);
// The state behind TS's batch handle (an External made by createBatch).
BatchState* BatchOf(napi_env env, napi_value value);

}  // namespace nucx
