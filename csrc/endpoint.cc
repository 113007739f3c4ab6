#include "endpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "addon.h"
#include "batch.h"
#include "fastpath.h"
#include "memory.h"
#include "status.h"
#include "worker.h"

namespace nucx {

Napi::Function Endpoint::Define(Napi::Env env) {
  return DefineClass(env, "Endpoint",
                     {
                         InstanceMethod<&Endpoint::TagSend>("tagSend"),
                         InstanceMethod<&Endpoint::StreamSend>("streamSend"),
                         InstanceMethod<&Endpoint::StreamRecv>("streamRecv"),
                         InstanceMethod<&Endpoint::AmSend>("amSend"),
                         InstanceMethod<&Endpoint::Put>("put"),
                         InstanceMethod<&Endpoint::Get>("get"),
                         InstanceMethod<&Endpoint::Atomic>("atomic"),
                         InstanceMethod<&Endpoint::UnpackRkey>("unpackRkey"),
                         InstanceMethod<&Endpoint::Flush>("flush"),
                         InstanceMethod<&Endpoint::Close>("close"),
                         InstanceMethod<&Endpoint::AbandonClose>("abandonClose"),
                         InstanceMethod<&Endpoint::Info>("info"),
                         InstanceMethod<&Endpoint::FastOps>("fastOps"),
                     });
}

// Made only by Worker.connect / connectAddress and Listener.accept.
Endpoint::Endpoint(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Endpoint>(info) {
  worker_ = Worker::Unwrap(info[0].As<Napi::Object>());
  worker_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
}

Endpoint::~Endpoint() {
  Abandon();
  if (fast_ != nullptr) DropFastTarget(fast_);
}

bool Endpoint::Create(ucp_ep_params_t& params, bool peer_errors) {
  params.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.err_mode = peer_errors ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
  peer_errors_ = peer_errors;
  params.err_handler.cb = OnError;
  params.err_handler.arg = this;
  ucs_status_t status = ucp_ep_create(worker_->handle(), &params, &ep_);
  if (status != UCS_OK) {
    ep_ = nullptr;
    ThrowStatus(Env(), status, "ucp_ep_create");
    return false;
  }
  worker_->AddEndpoint(ep_, this);
  Ref();  // the wrapper lives while the ucp_ep does: events name it
  return true;
}

void Endpoint::AdoptReplyEndpoint(ucp_ep_h ep) {
  ep_ = ep;
  owned_ = false;
  worker_->AddEndpoint(ep_, this);
  Ref();
}

void Endpoint::OnError(void* arg, ucp_ep_h ep, ucs_status_t status) {
  Endpoint* self = static_cast<Endpoint*>(arg);
  if (self->ep_ == nullptr) return;
  self->worker_->QueueEndpointError(self, status);
}

void Endpoint::Detach() {
  if (ep_ == nullptr) return;
  std::unordered_set<RemoteKey*> keys;
  keys.swap(rkeys_);
  for (RemoteKey* key : keys) key->Destroy();  // rkeys go before their endpoint
  worker_->RemoveEndpoint(ep_);
  worker_->Forget(nullptr, this);
  ep_ = nullptr;
  Unref();
}

void Endpoint::Abandon() {
  if (ep_ == nullptr) return;
  ucp_ep_h ep = ep_;
  bool owned = owned_;
  Detach();
  if (!owned || worker_->closed()) return;
  ucp_request_param_t param = {};
  if (peer_errors_) {
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
  }
  ucs_status_ptr_t sp = ucp_ep_close_nbx(ep, &param);
  if (sp != nullptr && !UCS_PTR_IS_ERR(sp)) {
    for (int i = 0; i < 64 && ucp_request_check_status(sp) == UCS_INPROGRESS; i++)
      ucp_worker_progress(worker_->handle());
    ucp_request_free(sp);
  }
}

bool Endpoint::RequireOpen(Napi::Env env) {
  if (ep_ != nullptr && !worker_->closed()) return true;
  ThrowCoded(env, "ERR_UCX_CLOSED", "the Endpoint is closed");
  return false;
}

static void SetMemoryType(ucp_request_param_t* param, int memory_type) {
  if (memory_type < 0) return;
  param->op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param->memory_type = static_cast<ucs_memory_type_t>(memory_type);
}

static ucp_request_param_t SendParam(int memory_type) {
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK;
  param.cb.send = Worker::OnSend;
  SetMemoryType(&param, memory_type);
  return param;
}

// tagSend(data, length, memoryType, tag, sync): undefined | Promise -> ucp_tag_send_nbx /
// ucp_tag_send_sync_nbx
Napi::Value Endpoint::TagSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  DataArg data;
  if (!ReadData(env, info[0], info[1], &data)) return env.Undefined();
  ucp_request_param_t param = SendParam(info[2].As<Napi::Number>().Int32Value());
  bool lossless;
  ucp_tag_t tag = info[3].As<Napi::BigInt>().Uint64Value(&lossless);
  bool sync = info[4].As<Napi::Boolean>().Value();
  ucs_status_ptr_t sp = sync ? ucp_tag_send_sync_nbx(ep_, data.ptr, data.length, tag, &param)
                             : ucp_tag_send_nbx(ep_, data.ptr, data.length, tag, &param);
  return Napi::Value(
      env, worker_->Submit(sp, RequestKind::kSend, this, Holds{{data.pinnable}}, "ucp_tag_send_nbx"));
}

// streamSend(data, length, memoryType): undefined | Promise -> ucp_stream_send_nbx
Napi::Value Endpoint::StreamSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  DataArg data;
  if (!ReadData(env, info[0], info[1], &data)) return env.Undefined();
  ucp_request_param_t param = SendParam(info[2].As<Napi::Number>().Int32Value());
  ucs_status_ptr_t sp = ucp_stream_send_nbx(ep_, data.ptr, data.length, &param);
  return Napi::Value(
      env, worker_->Submit(sp, RequestKind::kSend, this, Holds{{data.pinnable}}, "ucp_stream_send_nbx"));
}

// streamRecv(data, length, memoryType, waitAll, cancelId): number | Promise<number> -> ucp_stream_recv_nbx
Napi::Value Endpoint::StreamRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  DataArg data;
  if (!ReadData(env, info[0], info[1], &data)) return env.Undefined();
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK;
  param.cb.recv_stream = Worker::OnStreamRecv;
  SetMemoryType(&param, info[2].As<Napi::Number>().Int32Value());
  if (info[3].As<Napi::Boolean>().Value()) {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_STREAM_RECV_FLAG_WAITALL;
  }
  uint32_t cancel_id = info[4].As<Napi::Number>().Uint32Value();
  size_t length = 0;
  ucs_status_ptr_t sp = ucp_stream_recv_nbx(ep_, data.ptr, data.length, &length, &param);
  if (sp == nullptr) return Napi::Number::New(env, static_cast<double>(length));
  return Napi::Value(env, worker_->Submit(sp, RequestKind::kStreamRecv, this, Holds{{data.pinnable}},
                                          "ucp_stream_recv_nbx", cancel_id));
}

// amSend(id, header | null, data | null, length, memoryType, flags): undefined | Promise -> ucp_am_send_nbx
Napi::Value Endpoint::AmSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  unsigned id = info[0].As<Napi::Number>().Uint32Value();
  DataArg header;
  if (!info[1].IsNull() && !ReadData(env, info[1], info[3], &header)) return env.Undefined();
  DataArg data;
  if (!info[2].IsNull() && !ReadData(env, info[2], info[3], &data)) return env.Undefined();
  ucp_request_param_t param = SendParam(info[4].As<Napi::Number>().Int32Value());
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
  param.flags = info[5].As<Napi::Number>().Uint32Value();
  ucs_status_ptr_t sp = ucp_am_send_nbx(ep_, id, header.ptr, header.length, data.ptr, data.length, &param);
  // UCX may read the header and the data until completion: both are held.
  return Napi::Value(env, worker_->Submit(sp, RequestKind::kSend, this,
                                          Holds{{header.pinnable, data.pinnable}}, "ucp_am_send_nbx"));
}

// put(data, length, memoryType, remoteAddress, rkey): undefined | Promise -> ucp_put_nbx
Napi::Value Endpoint::Put(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  DataArg data;
  if (!ReadData(env, info[0], info[1], &data)) return env.Undefined();
  ucp_request_param_t param = SendParam(info[2].As<Napi::Number>().Int32Value());
  bool lossless;
  uint64_t remote = info[3].As<Napi::BigInt>().Uint64Value(&lossless);
  RemoteKey* key = RemoteKey::Unwrap(info[4].As<Napi::Object>());
  if (!key->RequireLive(env)) return env.Undefined();
  ucs_status_ptr_t sp = ucp_put_nbx(ep_, data.ptr, data.length, remote, key->handle(), &param);
  return Napi::Value(env,
                     worker_->Submit(sp, RequestKind::kSend, this, Holds{{data.pinnable}}, "ucp_put_nbx"));
}

// get(data, length, memoryType, remoteAddress, rkey): undefined | Promise -> ucp_get_nbx
Napi::Value Endpoint::Get(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  DataArg data;
  if (!ReadData(env, info[0], info[1], &data)) return env.Undefined();
  ucp_request_param_t param = SendParam(info[2].As<Napi::Number>().Int32Value());
  bool lossless;
  uint64_t remote = info[3].As<Napi::BigInt>().Uint64Value(&lossless);
  RemoteKey* key = RemoteKey::Unwrap(info[4].As<Napi::Object>());
  if (!key->RequireLive(env)) return env.Undefined();
  ucs_status_ptr_t sp = ucp_get_nbx(ep_, data.ptr, data.length, remote, key->handle(), &param);
  return Napi::Value(env,
                     worker_->Submit(sp, RequestKind::kSend, this, Holds{{data.pinnable}}, "ucp_get_nbx"));
}

// atomic(opcode, remoteAddress, rkey, value, size, fetch, swap?): bigint | undefined | Promise ->
// ucp_atomic_op_nbx For UCP_ATOMIC_OP_CSWAP `value` is the compare value and `swap` the new one.
Napi::Value Endpoint::Atomic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  ucp_atomic_op_t opcode = static_cast<ucp_atomic_op_t>(info[0].As<Napi::Number>().Int32Value());
  bool lossless;
  uint64_t remote = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  RemoteKey* key = RemoteKey::Unwrap(info[2].As<Napi::Object>());
  if (!key->RequireLive(env)) return env.Undefined();
  uint64_t value = info[3].As<Napi::BigInt>().Uint64Value(&lossless);
  uint32_t size = info[4].As<Napi::Number>().Uint32Value();
  bool fetch = info[5].As<Napi::Boolean>().Value();
  // UCX reads the operand and writes the reply until completion: heap storage, freed on settle.
  uint64_t* storage = new uint64_t[2]{value, 0};
  if (opcode == UCP_ATOMIC_OP_CSWAP) storage[1] = info[6].As<Napi::BigInt>().Uint64Value(&lossless);
  ucp_request_param_t param = SendParam(-1);
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
  param.datatype = ucp_dt_make_contig(size);
  if (fetch) {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_REPLY_BUFFER;
    param.reply_buffer = &storage[1];
  }
  ucs_status_ptr_t sp = ucp_atomic_op_nbx(ep_, opcode, &storage[0], 1, remote, key->handle(), &param);
  if (sp == nullptr || UCS_PTR_IS_ERR(sp)) {
    uint64_t fetched = size == 4 ? static_cast<uint32_t>(storage[1]) : storage[1];
    delete[] storage;
    if (sp != nullptr) {
      ThrowStatus(env, UCS_PTR_STATUS(sp), "ucp_atomic_op_nbx");
      return env.Undefined();
    }
    return fetch ? Napi::Value(Napi::BigInt::New(env, fetched)) : env.Undefined();
  }
  Holds holds;
  holds.atomic = storage;
  holds.atomic_size = static_cast<uint8_t>(size);
  return Napi::Value(env, worker_->Submit(sp, fetch ? RequestKind::kFetch : RequestKind::kSend, this, holds,
                                          "ucp_atomic_op_nbx"));
}

// unpackRkey(packed): NativeRemoteKey -> ucp_ep_rkey_unpack
Napi::Value Endpoint::UnpackRkey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  Napi::Uint8Array packed = info[0].As<Napi::Uint8Array>();
  ucp_rkey_h rkey;
  ucs_status_t status = ucp_ep_rkey_unpack(ep_, packed.Data(), &rkey);
  if (status != UCS_OK) {
    ThrowStatus(env, status, "ucp_ep_rkey_unpack");
    return env.Undefined();
  }
  Napi::Object object = Addon::Of(env).rkey_ctor.New({Value()});
  RemoteKey::Unwrap(object)->Attach(this, rkey);
  return object;
}

// flush(): undefined | Promise -> ucp_ep_flush_nbx
Napi::Value Endpoint::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  ucp_request_param_t param = SendParam(-1);
  return Napi::Value(env, worker_->Submit(ucp_ep_flush_nbx(ep_, &param), RequestKind::kSend, this, Holds{},
                                          "ucp_ep_flush_nbx"));
}

// close(force, error?): undefined | Promise -> ucp_ep_close_nbx (UCP_EP_CLOSE_FLAG_FORCE when force)
// What this endpoint started and UCX has not completed rejects first, with `error` (the one that
// broke the endpoint) or ERR_UCX_CLOSED: in 'none' error mode UCX would never end it.
Napi::Value Endpoint::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ep_ == nullptr || worker_->closed()) return env.Undefined();
  worker_->AbandonRequests(
      this, info.Length() > 1 && info[1].IsObject() ? static_cast<napi_value>(info[1]) : nullptr);
  // UCX allows a forced close only in PEER error mode; without it the close is a flush.
  bool force = info[0].As<Napi::Boolean>().Value() && peer_errors_;
  ucp_ep_h ep = ep_;
  bool owned = owned_;
  Detach();
  if (!owned) return env.Undefined();
  ucp_request_param_t param = SendParam(-1);
  if (force) {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
  }
  // The request holds this wrapper: UCX may still report an error for it until the close completes.
  Holds holds;
  holds.object = Value();
  ucs_status_ptr_t sp = ucp_ep_close_nbx(ep, &param);
  napi_value promise = worker_->Submit(sp, RequestKind::kClose, this, holds, "ucp_ep_close_nbx");
  if (promise != nullptr && sp != nullptr && !UCS_PTR_IS_ERR(sp)) close_request_ = static_cast<Request*>(sp);
  return Napi::Value(env, promise);
}

// abandonClose(): void — a close that outlived its bound (a frozen peer in 'none' mode): its promise
// resolves now and it no longer keeps the process alive; UCX finishes it when it can.
Napi::Value Endpoint::AbandonClose(const Napi::CallbackInfo& info) {
  if (close_request_ != nullptr) {
    Request* request = close_request_;
    close_request_ = nullptr;
    worker_->Abandon(request, nullptr);
  }
  return info.Env().Undefined();
}

// info(): string -> ucp_ep_print_info (the lanes and transports UCX chose)
Napi::Value Endpoint::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  char* text = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&text, &size);
  if (stream == nullptr) return Napi::String::New(env, "");
  ucp_ep_print_info(ep_, stream);
  fclose(stream);
  Napi::String result = Napi::String::New(env, text, size);
  free(text);
  return result;
}

}  // namespace nucx

namespace nucx {

// ---- the fast path: functions bound to this endpoint (fastpath.h), counted on a batch (batch.h) ----

template <napi_value (Endpoint::*Method)(napi_env, FastCall&)>
static napi_value CallEndpoint(napi_env env, napi_callback_info info) {
  FastCall call;
  if (!ReadFastCall(env, info, &call, "the Endpoint")) return nullptr;
  return (static_cast<Endpoint*>(call.object)->*Method)(env, call);
}

// fastOps(): { tagSend, tagSendMany, streamSend, amSend, put, get, atomic } bound to this endpoint
Napi::Value Endpoint::FastOps(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (fast_ == nullptr) fast_ = NewFastTarget(this);
  napi_value ops;
  napi_create_object(env, &ops);
  DefineFastFunction(env, ops, "tagSend", CallEndpoint<&Endpoint::FastTagSend>, fast_);
  DefineFastFunction(env, ops, "tagSendMany", CallEndpoint<&Endpoint::FastTagSendMany>, fast_);
  DefineFastFunction(env, ops, "streamSend", CallEndpoint<&Endpoint::FastStreamSend>, fast_);
  DefineFastFunction(env, ops, "amSend", CallEndpoint<&Endpoint::FastAmSend>, fast_);
  DefineFastFunction(env, ops, "put", CallEndpoint<&Endpoint::FastPut>, fast_);
  DefineFastFunction(env, ops, "get", CallEndpoint<&Endpoint::FastGet>, fast_);
  DefineFastFunction(env, ops, "atomic", CallEndpoint<&Endpoint::FastAtomic>, fast_);
  return Napi::Value(env, ops);
}

static int32_t Int32Of(napi_env env, napi_value value) {
  int32_t result = 0;
  napi_get_value_int32(env, value, &result);
  return result;
}

static uint64_t Uint64Of(napi_env env, napi_value value) {
  uint64_t result = 0;
  bool lossless;
  napi_get_value_bigint_uint64(env, value, &result, &lossless);
  return result;
}

// tagSend(data, length, memoryType, tag, batch): boolean -> ucp_tag_send_nbx (true: completed inline)
napi_value Endpoint::FastTagSend(napi_env env, FastCall& c) {
  Napi::Env e(env);
  if (!RequireOpen(e)) return nullptr;
  DataArg data;
  if (!ReadData(e, c.args[0], c.args[1], &data)) return nullptr;
  BatchState* batch = BatchOf(env, c.args[4]);
  if (batch == nullptr) return nullptr;
  ucp_request_param_t param = SendParam(Int32Of(env, c.args[2]));
  ucs_status_ptr_t sp = ucp_tag_send_nbx(ep_, data.ptr, data.length, Uint64Of(env, c.args[3]), &param);
  return worker_->SubmitToBatch(sp, RequestKind::kSend, this, Holds{{data.pinnable}}, batch,
                                "ucp_tag_send_nbx");
}

// tagSendMany(data, length, memoryType, size, tag, batch): number -> ucp_tag_send_nbx per `size`-byte slice
// of data (the last may be shorter); returns how many went pending (counted on batch). An inline failure
// throws; the slices before it were sent.
napi_value Endpoint::FastTagSendMany(napi_env env, FastCall& c) {
  Napi::Env e(env);
  if (!RequireOpen(e)) return nullptr;
  DataArg data;
  if (!ReadData(e, c.args[0], c.args[1], &data)) return nullptr;
  int64_t size = 0;
  napi_get_value_int64(env, c.args[3], &size);
  uint64_t tag = Uint64Of(env, c.args[4]);
  BatchState* batch = BatchOf(env, c.args[5]);
  if (batch == nullptr || size <= 0) return nullptr;
  ucp_request_param_t param = SendParam(Int32Of(env, c.args[2]));
  PinnedMemory pin;
  bool pinned = false;
  uint32_t pending = 0;
  uint8_t* base = static_cast<uint8_t*>(data.ptr);
  for (size_t offset = 0; offset < data.length; offset += static_cast<size_t>(size)) {
    size_t length = std::min(static_cast<size_t>(size), data.length - offset);
    ucs_status_ptr_t sp = ucp_tag_send_nbx(ep_, base + offset, length, tag, &param);
    if (sp == nullptr) continue;
    if (UCS_PTR_IS_ERR(sp)) {
      ThrowStatus(e, UCS_PTR_STATUS(sp), "ucp_tag_send_nbx");
      return nullptr;
    }
    if (!pinned) {
      pin = PinMemory(data.pinnable);
      pinned = true;
    }
    Request* request = ClaimRequest(sp, worker_, RequestKind::kSend);
    request->memory[0] = pin;
    worker_->PendInBatch(request, this, batch);
    pending++;
  }
  napi_value result;
  napi_create_uint32(env, pending, &result);
  return result;
}

// streamSend(data, length, memoryType, batch): boolean -> ucp_stream_send_nbx
napi_value Endpoint::FastStreamSend(napi_env env, FastCall& c) {
  Napi::Env e(env);
  if (!RequireOpen(e)) return nullptr;
  DataArg data;
  if (!ReadData(e, c.args[0], c.args[1], &data)) return nullptr;
  BatchState* batch = BatchOf(env, c.args[3]);
  if (batch == nullptr) return nullptr;
  ucp_request_param_t param = SendParam(Int32Of(env, c.args[2]));
  ucs_status_ptr_t sp = ucp_stream_send_nbx(ep_, data.ptr, data.length, &param);
  return worker_->SubmitToBatch(sp, RequestKind::kSend, this, Holds{{data.pinnable}}, batch,
                                "ucp_stream_send_nbx");
}

// amSend(id, header | null, data | null, length, memoryType, flags, batch): boolean -> ucp_am_send_nbx
napi_value Endpoint::FastAmSend(napi_env env, FastCall& c) {
  Napi::Env e(env);
  if (!RequireOpen(e)) return nullptr;
  uint32_t id = 0;
  napi_get_value_uint32(env, c.args[0], &id);
  napi_valuetype type;
  DataArg header;
  napi_typeof(env, c.args[1], &type);
  if (type != napi_null && !ReadData(e, c.args[1], c.args[3], &header)) return nullptr;
  DataArg data;
  napi_typeof(env, c.args[2], &type);
  if (type != napi_null && !ReadData(e, c.args[2], c.args[3], &data)) return nullptr;
  uint32_t flags = 0;
  napi_get_value_uint32(env, c.args[5], &flags);
  BatchState* batch = BatchOf(env, c.args[6]);
  if (batch == nullptr) return nullptr;
  ucp_request_param_t param = SendParam(Int32Of(env, c.args[4]));
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
  param.flags = flags;
  ucs_status_ptr_t sp = ucp_am_send_nbx(ep_, id, header.ptr, header.length, data.ptr, data.length, &param);
  return worker_->SubmitToBatch(sp, RequestKind::kSend, this, Holds{{header.pinnable, data.pinnable}}, batch,
                                "ucp_am_send_nbx");
}

// The RemoteKey behind a fast-path rkey handle (RemoteKey.fastHandle()), live and of this endpoint's.
static RemoteKey* LiveKey(napi_env env, napi_value handle) {
  auto* key = static_cast<RemoteKey*>(FastHandleObject(env, handle, "the RemoteKey"));
  if (key == nullptr || !key->RequireLive(Napi::Env(env))) return nullptr;
  return key;
}

// put(data, length, memoryType, remoteAddress, rkeyHandle, batch): boolean -> ucp_put_nbx
// get(data, length, memoryType, remoteAddress, rkeyHandle, batch): boolean -> ucp_get_nbx
napi_value Endpoint::FastRma(napi_env env, FastCall& c, bool put) {
  Napi::Env e(env);
  if (!RequireOpen(e)) return nullptr;
  DataArg data;
  if (!ReadData(e, c.args[0], c.args[1], &data)) return nullptr;
  RemoteKey* key = LiveKey(env, c.args[4]);
  if (key == nullptr) return nullptr;
  BatchState* batch = BatchOf(env, c.args[5]);
  if (batch == nullptr) return nullptr;
  ucp_request_param_t param = SendParam(Int32Of(env, c.args[2]));
  uint64_t remote = Uint64Of(env, c.args[3]);
  ucs_status_ptr_t sp = put ? ucp_put_nbx(ep_, data.ptr, data.length, remote, key->handle(), &param)
                            : ucp_get_nbx(ep_, data.ptr, data.length, remote, key->handle(), &param);
  return worker_->SubmitToBatch(sp, RequestKind::kSend, this, Holds{{data.pinnable}}, batch,
                                put ? "ucp_put_nbx" : "ucp_get_nbx");
}

napi_value Endpoint::FastPut(napi_env env, FastCall& c) { return FastRma(env, c, true); }
napi_value Endpoint::FastGet(napi_env env, FastCall& c) { return FastRma(env, c, false); }

// atomic(opcode, remoteAddress, rkeyHandle, value, size, fetch, swap | undefined, batch):
//   fetch: bigint | Promise<bigint>; otherwise boolean -> ucp_atomic_op_nbx
// The operand and reply live in storage the worker reuses, so an atomic UCX completes inline
// allocates nothing; a pending one keeps its storage until it completes.
napi_value Endpoint::FastAtomic(napi_env env, FastCall& c) {
  Napi::Env e(env);
  if (!RequireOpen(e)) return nullptr;
  ucp_atomic_op_t opcode = static_cast<ucp_atomic_op_t>(Int32Of(env, c.args[0]));
  uint64_t remote = Uint64Of(env, c.args[1]);
  RemoteKey* key = LiveKey(env, c.args[2]);
  if (key == nullptr) return nullptr;
  uint64_t value = Uint64Of(env, c.args[3]);
  uint32_t size = 8;
  napi_get_value_uint32(env, c.args[4], &size);
  bool fetch = false;
  napi_get_value_bool(env, c.args[5], &fetch);
  BatchState* batch = BatchOf(env, c.args[7]);
  if (batch == nullptr) return nullptr;
  uint64_t* storage = worker_->TakeAtomicStorage();
  storage[0] = value;
  storage[1] = opcode == UCP_ATOMIC_OP_CSWAP ? Uint64Of(env, c.args[6]) : 0;
  ucp_request_param_t param = SendParam(-1);
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
  param.datatype = ucp_dt_make_contig(size);
  if (fetch) {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_REPLY_BUFFER;
    param.reply_buffer = &storage[1];
  }
  ucs_status_ptr_t sp = ucp_atomic_op_nbx(ep_, opcode, &storage[0], 1, remote, key->handle(), &param);
  if (sp == nullptr || UCS_PTR_IS_ERR(sp)) {
    uint64_t fetched = size == 4 ? static_cast<uint32_t>(storage[1]) : storage[1];
    worker_->ReturnAtomicStorage(storage);
    if (sp != nullptr) {
      ThrowStatus(e, UCS_PTR_STATUS(sp), "ucp_atomic_op_nbx");
      return nullptr;
    }
    napi_value result;
    if (fetch)
      napi_create_bigint_uint64(env, fetched, &result);
    else
      napi_get_boolean(env, true, &result);
    return result;
  }
  Holds holds;
  holds.atomic = storage;
  holds.atomic_size = static_cast<uint8_t>(size);
  if (fetch) return worker_->Submit(sp, RequestKind::kFetch, this, holds, "ucp_atomic_op_nbx", 0, batch);
  return worker_->SubmitToBatch(sp, RequestKind::kSend, this, holds, batch, "ucp_atomic_op_nbx");
}

}  // namespace nucx
