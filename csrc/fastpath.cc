#include "fastpath.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "batch.h"
#include "memory.h"
#include "status.h"
#include "worker.h"

namespace nucx {

FastTarget* NewFastTarget(void* object) { return new FastTarget{object, 1}; }

static void ReleaseTarget(FastTarget* target) {
  if (--target->refs == 0) delete target;
}

void DropFastTarget(FastTarget* target) {
  target->object = nullptr;
  ReleaseTarget(target);
}

static void FinalizeTarget(napi_env, void* data, void*) { ReleaseTarget(static_cast<FastTarget*>(data)); }

void DefineFastFunction(napi_env env, napi_value holder, const char* name, napi_callback callback,
                        FastTarget* target) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, target, &fn);
  target->refs++;
  napi_add_finalizer(env, fn, target, FinalizeTarget, nullptr, nullptr);
  napi_set_named_property(env, holder, name, fn);
}

napi_value FastHandle(napi_env env, FastTarget* target) {
  napi_value external;
  target->refs++;
  napi_create_external(env, target, FinalizeTarget, nullptr, &external);
  return external;
}

void* FastHandleObject(napi_env env, napi_value handle, const char* what) {
  void* data = nullptr;
  if (napi_get_value_external(env, handle, &data) != napi_ok || data == nullptr) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a fast-path handle");
    return nullptr;
  }
  void* object = static_cast<FastTarget*>(data)->object;
  if (object == nullptr)
    ThrowCoded(Napi::Env(env), "ERR_UCX_CLOSED", (std::string(what) + " is gone").c_str());
  return object;
}

bool ReadFastCall(napi_env env, napi_callback_info info, FastCall* call, const char* what) {
  void* data = nullptr;
  // Arguments not passed come back as undefined (napi_get_cb_info fills the rest of args).
  napi_get_cb_info(env, info, &call->argc, call->args, nullptr, &data);
  call->object = static_cast<FastTarget*>(data)->object;
  if (call->object != nullptr) return true;
  ThrowCoded(Napi::Env(env), "ERR_UCX_CLOSED", (std::string(what) + " is closed").c_str());
  return false;
}

// fastHandle(): External — how fast-path puts, gets and atomics name this key
Napi::Value RemoteKey::FastHandleMethod(const Napi::CallbackInfo& info) {
  if (fast_ == nullptr) fast_ = NewFastTarget(this);
  return Napi::Value(info.Env(), FastHandle(info.Env(), fast_));
}

// ---- the worker's fast receives ----

template <napi_value (Worker::*Method)(napi_env, FastCall&)>
static napi_value CallWorker(napi_env env, napi_callback_info info) {
  FastCall call;
  if (!ReadFastCall(env, info, &call, "the Worker")) return nullptr;
  Worker* worker = static_cast<Worker*>(call.object);
  if (worker->closed()) {
    ThrowCoded(Napi::Env(env), "ERR_UCX_CLOSED", "the Worker is closed");
    return nullptr;
  }
  return (worker->*Method)(env, call);
}

// fastOps(scratch: Uint8Array(32)): { tryTagRecv, tagRecvBatch, amTryRecv } bound to this worker.
// The scratch is where they leave what does not fit a return value (FastScratch, worker.h).
Napi::Value Worker::FastOps(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (worker_ == nullptr) {
    ThrowCoded(Napi::Env(env), "ERR_UCX_CLOSED", "the Worker is closed");
    return Napi::Env(env).Undefined();
  }
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type;
  napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr);
  if (type != napi_uint8_array || length < sizeof(FastScratch)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fastOps wants a Uint8Array of 32 bytes");
    return Napi::Env(env).Undefined();
  }
  scratch_ = static_cast<FastScratch*>(data);
  scratch_memory_ = PinMemory(info[0]);
  if (fast_ == nullptr) fast_ = NewFastTarget(this);
  napi_value ops;
  napi_create_object(env, &ops);
  DefineFastFunction(env, ops, "tryTagRecv", CallWorker<&Worker::FastTryTagRecv>, fast_);
  DefineFastFunction(env, ops, "tagRecvBatch", CallWorker<&Worker::FastTagRecvBatch>, fast_);
  DefineFastFunction(env, ops, "amTryRecv", CallWorker<&Worker::FastAmTryRecv>, fast_);
  DefineFastFunction(env, ops, "tagRecv", CallWorker<&Worker::FastTagRecv>, fast_);
  return Napi::Value(env, ops);
}

// One ucp_worker_progress; probe waiters are due after activity, as after ProgressUntilIdle.
unsigned Worker::ProgressOnce() {
  unsigned n = ucp_worker_progress(worker_);
  if (n > 0 && !waiters_.empty()) probe_due_ = true;
  return n;
}

// What progress inside a fast call completed (other requests, events) is delivered before it
// returns, as worker.progress() does. A handler may close the worker meanwhile.
void Worker::DeliverFromCall() {
  if (worker_ != nullptr && HasDeliverables()) Deliver();
}

static uint32_t Uint32Of(napi_env env, napi_value value) {
  uint32_t result = 0;
  napi_get_value_uint32(env, value, &result);
  return result;
}

static uint64_t BigUint64Of(napi_env env, napi_value value) {
  uint64_t result = 0;
  bool lossless;
  napi_get_value_bigint_uint64(env, value, &result, &lossless);
  return result;
}

// tryTagRecv(data, length, memoryType, tag, mask, spins): number | null | Promise<number>
//   -> ucp_tag_probe_nb(remove) + ucp_tag_msg_recv_nbx, with up to `spins` ucp_worker_progress
// rounds while nothing matches. null: no matching message. A number: received inline (its length;
// the sender's tag is in the scratch). A Promise: matched, and arriving (rendezvous). A message
// longer than `data` throws UCS_ERR_MESSAGE_TRUNCATED (UCX drops it), as tagRecv rejects.
napi_value Worker::FastTryTagRecv(napi_env env, FastCall& c) {
  Napi::Env e(env);
  DataArg data;
  if (!ReadData(e, c.args[0], c.args[1], &data)) return nullptr;
  int32_t memory_type = -1;
  napi_get_value_int32(env, c.args[2], &memory_type);
  ucp_tag_t tag = BigUint64Of(env, c.args[3]);
  ucp_tag_t mask = BigUint64Of(env, c.args[4]);
  uint32_t spins = Uint32Of(env, c.args[5]);
  ucp_tag_recv_info_t info;
  ucp_tag_message_h message = ucp_tag_probe_nb(worker_, tag, mask, 1, &info);
  for (uint32_t i = 0; message == nullptr && i < spins; i++) {
    ProgressOnce();
    message = ucp_tag_probe_nb(worker_, tag, mask, 1, &info);
  }
  napi_value result = nullptr;
  if (message == nullptr) {
    napi_get_null(env, &result);
  } else {
    scratch_->tag = info.sender_tag;
    ucp_request_param_t param = {};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK;
    param.cb.recv = OnTagRecv;
    if (memory_type >= 0) {
      param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
      param.memory_type = static_cast<ucs_memory_type_t>(memory_type);
    }
    ucs_status_ptr_t sp = ucp_tag_msg_recv_nbx(worker_, data.ptr, data.length, message, &param);
    if (sp == nullptr) {
      napi_create_double(env, static_cast<double>(info.length), &result);
    } else if (UCS_PTR_IS_ERR(sp)) {
      ThrowStatus(e, UCS_PTR_STATUS(sp), "ucp_tag_msg_recv_nbx");
      return nullptr;
    } else {
      result =
          Submit(sp, RequestKind::kTagRecvLength, nullptr, Holds{{data.pinnable}}, "ucp_tag_msg_recv_nbx");
      if (result == nullptr) return nullptr;
    }
  }
  DeliverFromCall();
  return result;
}

// tagRecvBatch(ring, slotSize, maxCount, tag, mask, lengths: Uint32Array, tags: BigUint64Array | null,
// spins):
//   number | Promise<number> -> ucp_tag_probe_nb + ucp_tag_recv_nbx per message
// Receives the queued messages that match, up to maxCount, message i into ring[i * slotSize ...]
// (host memory), with up to `spins` progress rounds while none is queued. Returns their count,
// with lengths[i] and tags[i] set. It stops before a message longer than a slot (it stays queued;
// its length is in the scratch), and at one whose receive does not complete inline (rendezvous):
// then the count includes it and comes as a Promise, once it has arrived.
napi_value Worker::FastTagRecvBatch(napi_env env, FastCall& c) {
  Napi::Env e(env);
  DataArg ring;
  if (!ReadData(e, c.args[0], nullptr, &ring)) return nullptr;
  uint32_t slot_size = Uint32Of(env, c.args[1]);
  uint32_t max_count = Uint32Of(env, c.args[2]);
  ucp_tag_t tag = BigUint64Of(env, c.args[3]);
  ucp_tag_t mask = BigUint64Of(env, c.args[4]);
  void* lengths_data = nullptr;
  size_t lengths_count = 0;
  napi_typedarray_type type;
  napi_get_typedarray_info(env, c.args[5], &type, &lengths_count, &lengths_data, nullptr, nullptr);
  uint32_t* lengths = static_cast<uint32_t*>(lengths_data);
  uint64_t* tags = nullptr;
  size_t tags_count = 0;
  napi_valuetype tags_type;
  napi_typeof(env, c.args[6], &tags_type);
  if (tags_type == napi_object) {
    void* tags_data = nullptr;
    napi_get_typedarray_info(env, c.args[6], &type, &tags_count, &tags_data, nullptr, nullptr);
    tags = static_cast<uint64_t*>(tags_data);
  }
  uint32_t spins = Uint32Of(env, c.args[7]);
  // TS sized the arrays; these bounds only keep a mistake from writing past them.
  if (slot_size > 0) max_count = std::min<size_t>(max_count, ring.length / slot_size);
  max_count = std::min<size_t>(max_count, lengths_count);
  if (tags != nullptr) max_count = std::min<size_t>(max_count, tags_count);
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param.cb.recv = OnTagRecv;
  param.memory_type = UCS_MEMORY_TYPE_HOST;
  uint8_t* base = static_cast<uint8_t*>(ring.ptr);
  scratch_->head_length = -1;
  uint32_t count = 0;
  uint32_t rounds = 0;
  napi_value pending = nullptr;
  while (count < max_count) {
    ucp_tag_recv_info_t info;
    if (ucp_tag_probe_nb(worker_, tag, mask, 0, &info) == nullptr) {
      if (count > 0 || rounds >= spins) break;
      rounds++;
      ProgressOnce();
      continue;
    }
    if (info.length > slot_size) {
      scratch_->head_length = static_cast<double>(info.length);
      break;
    }
    uint8_t* slot = base + static_cast<size_t>(count) * slot_size;
    ucs_status_ptr_t sp = ucp_tag_recv_nbx(worker_, slot, slot_size, tag, mask, &param);
    if (UCS_PTR_IS_ERR(sp)) {
      ThrowStatus(e, UCS_PTR_STATUS(sp), "ucp_tag_recv_nbx");
      return nullptr;
    }
    lengths[count] = static_cast<uint32_t>(info.length);
    if (tags != nullptr) tags[count] = info.sender_tag;
    count++;
    if (sp != nullptr) {
      pending = Submit(sp, RequestKind::kTagRecvLength, nullptr, Holds{{ring.pinnable}}, "ucp_tag_recv_nbx");
      if (pending == nullptr) return nullptr;
      break;
    }
  }
  scratch_->count = count;
  napi_value result = pending;
  if (result == nullptr) napi_create_uint32(env, count, &result);
  DeliverFromCall();
  return result;
}

// amTryRecv(id, data, length, memoryType, header | null, spins): number | null | Promise<number>
//   -> the queued slot's next message (ucp_am_recv_data_nbx for a rendezvous payload)
// With up to `spins` progress rounds while the queue is empty. null: no message. A number: the
// payload is in `data` (its length; the header's length is in the scratch, its bytes in `header`,
// as many as fit). A Promise: a rendezvous payload, arriving into `data`. A payload longer than
// `data` throws UCS_ERR_MESSAGE_TRUNCATED (the message is dropped).
napi_value Worker::FastAmTryRecv(napi_env env, FastCall& c) {
  Napi::Env e(env);
  uint32_t id = Uint32Of(env, c.args[0]);
  auto found = am_slots_.find(static_cast<uint16_t>(id));
  if (found == am_slots_.end() || !found->second->queued) {
    ThrowCoded(e, "ERR_UCX_CLOSED", "no active message queue for this id");
    return nullptr;
  }
  AmSlot* slot = found->second.get();
  DataArg data;
  if (!ReadData(e, c.args[1], c.args[2], &data)) return nullptr;
  int32_t memory_type = -1;
  napi_get_value_int32(env, c.args[3], &memory_type);
  uint32_t spins = Uint32Of(env, c.args[5]);
  for (uint32_t i = 0; slot->queue.empty() && i < spins && worker_ != nullptr; i++) ProgressOnce();
  napi_value result = nullptr;
  if (slot->queue.empty()) {
    napi_get_null(env, &result);
    DeliverFromCall();
    return result;
  }
  QueuedAm message = std::move(slot->queue.front());
  slot->queue.pop_front();
  scratch_->header_length = static_cast<double>(message.header.size());
  napi_valuetype header_type;
  napi_typeof(env, c.args[4], &header_type);
  if (header_type == napi_object) {
    DataArg header;
    napi_value no_length = nullptr;
    if (ReadData(e, c.args[4], no_length, &header) && header.ptr != nullptr) {
      std::memcpy(header.ptr, message.header.data(), std::min(header.length, message.header.size()));
    }
  }
  if (message.length > data.length) {
    ReleaseQueuedAm(message);
    ThrowStatus(e, UCS_ERR_MESSAGE_TRUNCATED,
                "active message payload longer than the buffer; it was dropped");
    return nullptr;
  }
  if (message.mode == AmDataMode::kRendezvous) {
    ucp_request_param_t param = {};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK;
    param.cb.recv_am = OnAmData;
    if (memory_type >= 0) {
      param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
      param.memory_type = static_cast<ucs_memory_type_t>(memory_type);
    }
    ucs_status_ptr_t sp = ucp_am_recv_data_nbx(worker_, message.data, data.ptr, message.length, &param);
    if (sp == nullptr) {
      napi_create_double(env, static_cast<double>(message.length), &result);
    } else if (UCS_PTR_IS_ERR(sp)) {
      ThrowStatus(e, UCS_PTR_STATUS(sp), "ucp_am_recv_data_nbx");
      return nullptr;
    } else {
      size_t length = message.length;
      result = Submit(sp, RequestKind::kAmRecv, nullptr, Holds{{data.pinnable}}, "ucp_am_recv_data_nbx");
      if (result == nullptr) return nullptr;
      static_cast<Request*>(sp)->length = length;
    }
  } else {
    if (message.length > 0) std::memcpy(data.ptr, message.data, message.length);
    ReleaseQueuedAm(message);
    napi_create_double(env, static_cast<double>(message.length), &result);
  }
  DeliverFromCall();
  return result;
}

// amWait(id, cancelId): Promise<void> | undefined — resolves once the queued slot has a message
// (undefined: it has one now). cancel() rejects it with UCS_ERR_CANCELED; close, ERR_UCX_CLOSED.
Napi::Value Worker::AmWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (worker_ == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the Worker is closed");
    return env.Undefined();
  }
  uint16_t id = static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value());
  auto found = am_slots_.find(id);
  if (found == am_slots_.end() || !found->second->queued) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "no active message queue for this id");
    return env.Undefined();
  }
  AmSlot* slot = found->second.get();
  if (!slot->queue.empty()) return env.Undefined();
  if (slot->waiter != nullptr) {
    ThrowCoded(env, "ERR_INVALID_STATE", "this active message queue is already awaited");
    return env.Undefined();
  }
  napi_value promise;
  napi_create_promise(env, &slot->waiter, &promise);
  slot->waiter_cancel_id = info[1].As<Napi::Number>().Uint32Value();
  am_waiters_++;
  UpdateHandles();
  return Napi::Value(env, promise);
}

// amQueueClear(id): number — drops the queued slot's messages (returns how many)
Napi::Value Worker::AmQueueClear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t id = static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value());
  auto found = am_slots_.find(id);
  if (worker_ == nullptr || found == am_slots_.end()) return Napi::Number::New(env, 0);
  size_t count = found->second->queue.size();
  for (QueuedAm& message : found->second->queue) ReleaseQueuedAm(message);
  found->second->queue.clear();
  return Napi::Number::New(env, static_cast<double>(count));
}

// tagRecv(data, length, memoryType, tag, mask, lengths | null, index, batch): number -> ucp_tag_recv_nbx
// A posted receive without a promise: the length when it completed inline (a message was queued),
// -1 when it is posted and counted on `batch`; lengths[index] gets the length either way once it
// is in. As tagRecv, the queued match's length comes from a probe (UCX 1.13 does not fill
// recv_info for an inline completion), and one longer than `data` throws UCS_ERR_MESSAGE_TRUNCATED.
napi_value Worker::FastTagRecv(napi_env env, FastCall& c) {
  Napi::Env e(env);
  DataArg data;
  if (!ReadData(e, c.args[0], c.args[1], &data)) return nullptr;
  int32_t memory_type = -1;
  napi_get_value_int32(env, c.args[2], &memory_type);
  ucp_tag_t tag = BigUint64Of(env, c.args[3]);
  ucp_tag_t mask = BigUint64Of(env, c.args[4]);
  uint32_t* lengths = nullptr;
  size_t lengths_count = 0;
  napi_valuetype lengths_type;
  napi_typeof(env, c.args[5], &lengths_type);
  if (lengths_type == napi_object) {
    void* lengths_data = nullptr;
    napi_typedarray_type type;
    napi_get_typedarray_info(env, c.args[5], &type, &lengths_count, &lengths_data, nullptr, nullptr);
    lengths = static_cast<uint32_t*>(lengths_data);
  }
  uint32_t index = Uint32Of(env, c.args[6]);
  uint32_t* length_out = lengths != nullptr && index < lengths_count ? lengths + index : nullptr;
  BatchState* batch = BatchOf(env, c.args[7]);
  if (batch == nullptr) return nullptr;
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
  napi_value result;
  if (sp == nullptr) {
    if (!have_queued) {
      ThrowStatus(e, UCS_ERR_NO_MESSAGE, "ucp_tag_recv_nbx completed inline without a queued message");
      return nullptr;
    }
    if (queued.length > data.length) {
      ThrowStatus(e, UCS_ERR_MESSAGE_TRUNCATED, "ucp_tag_recv_nbx");
      return nullptr;
    }
    if (length_out != nullptr) *length_out = static_cast<uint32_t>(queued.length);
    napi_create_double(env, static_cast<double>(queued.length), &result);
    return result;
  }
  if (UCS_PTR_IS_ERR(sp)) {
    ThrowStatus(e, UCS_PTR_STATUS(sp), "ucp_tag_recv_nbx");
    return nullptr;
  }
  Request* request = ClaimRequest(sp, this, RequestKind::kTagRecvLength);
  request->memory[0] = PinMemory(data.pinnable);
  if (length_out != nullptr) {
    request->memory[1] = PinMemory(c.args[5]);
    request->length_out = length_out;
  }
  PendInBatch(request, nullptr, batch);
  napi_create_int32(env, -1, &result);
  return result;
}

// cancelBatch(batch): number — cancels the batch's posted receives UCX has not completed
// (ucp_request_cancel: they fail with UCS_ERR_CANCELED, and so the batch's wait); returns how many.
Napi::Value Worker::CancelBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  BatchState* batch = BatchOf(env, info[0]);
  uint32_t count = 0;
  if (batch != nullptr && worker_ != nullptr) {
    for (Request* r = pending_head_; r != nullptr; r = r->next) {
      if (r->batch != batch || r->done || r->endpoint != nullptr || r->kind != RequestKind::kTagRecvLength)
        continue;
      ucp_request_cancel(worker_, r);
      count++;
    }
  }
  return Napi::Number::New(info.Env(), count);
}

// tagWait(tag, mask, cancelId): Promise<void> — resolves once a matching message is queued (it
// stays queued), like tagRecvMessage's waiter without the receive. Cancel rejects it (UCS_ERR_CANCELED).
Napi::Value Worker::TagWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (worker_ == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the Worker is closed");
    return env.Undefined();
  }
  bool lossless;
  ucp_tag_t tag = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  ucp_tag_t mask = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  uint32_t cancel_id = info[2].As<Napi::Number>().Uint32Value();
  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(env, &deferred, &promise);
  ProbeWaiter waiter{tag, mask, deferred, cancel_id, false, SIZE_MAX};
  waiter.notify = true;
  waiters_.push_back(waiter);
  ServiceProbeWaiters();
  UpdateHandles();
  return Napi::Value(env, promise);
}

}  // namespace nucx
