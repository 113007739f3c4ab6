#include "batch.h"

#include "status.h"
#include "worker.h"

namespace nucx {

void RetainBatch(BatchState* batch) { batch->refs++; }

void ReleaseBatch(napi_env env, BatchState* batch) {
  if (--batch->refs > 0) return;
  if (batch->error != nullptr) napi_delete_reference(env, batch->error);
  delete batch;
}

BatchState* BatchOf(napi_env env, napi_value value) {
  void* data = nullptr;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == nullptr) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a batch handle");
    return nullptr;
  }
  return static_cast<BatchState*>(data);
}

// createBatch(counters: Int32Array(2)): External — the state of one TS Batch
Napi::Value Worker::CreateBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  auto* batch = new BatchState();
  napi_typedarray_type type;
  size_t count = 0;
  void* data = nullptr;
  napi_get_typedarray_info(env, info[0], &type, &count, &data, nullptr, nullptr);
  if (type == napi_int32_array && count >= 2) {
    batch->counters = static_cast<int32_t*>(data);
    batch->counters_memory = PinMemory(info[0]);
  }
  napi_value external;
  napi_create_external(
      env, batch, [](napi_env env, void* data, void*) { ReleaseBatch(env, static_cast<BatchState*>(data)); },
      nullptr, &external);
  return Napi::Value(env, external);
}

// waitBatch(batch): Promise<void> | undefined — settles once every counted operation has completed
// (rejects with the first failure since the last wait); undefined when none is pending.
Napi::Value Worker::WaitBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  BatchState* batch = BatchOf(env, info[0]);
  if (batch == nullptr || batch->pending == 0) return Napi::Env(env).Undefined();
  napi_value promise;
  if (batch->waiter != nullptr) {
    ThrowCoded(Napi::Env(env), "ERR_INVALID_STATE", "this batch is already awaited");
    return Napi::Env(env).Undefined();
  }
  napi_create_promise(env, &batch->waiter, &promise);
  return Napi::Value(env, promise);
}

// takeBatchError(batch): Error | null — the first failure since the last wait, which it resets.
Napi::Value Worker::TakeBatchError(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  BatchState* batch = BatchOf(env, info[0]);
  if (batch == nullptr || batch->error == nullptr) return Napi::Env(env).Null();
  napi_value error;
  napi_get_reference_value(env, batch->error, &error);
  napi_delete_reference(env, batch->error);
  batch->error = nullptr;
  if (batch->counters != nullptr) batch->counters[1] = 0;
  return Napi::Value(env, error);
}

void Worker::CountInBatch(Request* request, BatchState* batch) {
  request->batch = batch;
  RetainBatch(batch);
  batch->pending++;
  if (batch->counters != nullptr) batch->counters[0] = static_cast<int32_t>(batch->pending);
}

// A counted operation completed, failed (`error`), or was abandoned with its endpoint. The last
// one settles the batch's waiter: rejected with the first failure since the last wait, if any.
void Worker::BatchOpDone(Request* request, napi_value error) {
  napi_env env = env_;
  BatchState* batch = request->batch;
  request->batch = nullptr;
  batch->pending--;
  if (batch->counters != nullptr) batch->counters[0] = static_cast<int32_t>(batch->pending);
  if (error != nullptr) {
    if (batch->counters != nullptr) batch->counters[1]++;
    if (batch->error == nullptr) napi_create_reference(env, error, 1, &batch->error);
  }
  if (batch->pending == 0 && batch->waiter != nullptr) {
    napi_deferred waiter = batch->waiter;
    batch->waiter = nullptr;
    if (batch->error != nullptr) {
      napi_value failure;
      napi_get_reference_value(env, batch->error, &failure);
      napi_delete_reference(env, batch->error);
      batch->error = nullptr;
      if (batch->counters != nullptr) batch->counters[1] = 0;
      napi_reject_deferred(env, waiter, failure);
    } else {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      napi_resolve_deferred(env, waiter, undefined);
    }
  }
  ReleaseBatch(env, batch);
}

}  // namespace nucx
