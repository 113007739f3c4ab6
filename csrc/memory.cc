#include "memory.h"

#include <cstring>

#include "addon.h"
#include "context.h"
#include "endpoint.h"
#include "fastpath.h"
#include "request.h"
#include "status.h"

namespace nucx {

Napi::Function MemoryHandle::Define(Napi::Env env) {
  return DefineClass(env, "MemoryHandle",
                     {
                         InstanceMethod<&MemoryHandle::Address>("address"),
                         InstanceMethod<&MemoryHandle::Length>("length"),
                         InstanceMethod<&MemoryHandle::PackRkey>("packRkey"),
                         InstanceMethod<&MemoryHandle::Unmap>("unmap"),
                         InstanceMethod<&MemoryHandle::Read>("read"),
                         InstanceMethod<&MemoryHandle::Write>("write"),
                     });
}

// new MemoryHandle(context, data, length, memoryType, allocate) -> ucp_mem_map
// data: an ArrayBufferView (host memory, kept alive by the handle) or a BigInt
// device pointer; with allocate, UCX allocates `length` bytes of memoryType.
MemoryHandle::MemoryHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemoryHandle>(info) {
  Napi::Env env = info.Env();
  context_ = Context::Unwrap(info[0].As<Napi::Object>());
  if (context_->handle() == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the Context is closed");
    return;
  }
  int memory_type = info[3].As<Napi::Number>().Int32Value();
  bool allocate = info[4].As<Napi::Boolean>().Value();
  ucp_mem_map_params_t params = {};
  params.field_mask = UCP_MEM_MAP_PARAM_FIELD_LENGTH | UCP_MEM_MAP_PARAM_FIELD_MEMORY_TYPE;
  params.memory_type = static_cast<ucs_memory_type_t>(memory_type);
  if (allocate) {
    params.length = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
    params.field_mask |= UCP_MEM_MAP_PARAM_FIELD_FLAGS;
    params.flags = UCP_MEM_MAP_ALLOCATE;
  } else {
    DataArg data;
    if (!ReadData(env, info[1], info[2], &data)) return;
    params.field_mask |= UCP_MEM_MAP_PARAM_FIELD_ADDRESS;
    params.address = data.ptr;
    params.length = data.length;
    memory_ = PinMemory(data.pinnable);
  }
  ucs_status_t status = ucp_mem_map(context_->handle(), &params, &memh_);
  if (status != UCS_OK) {
    memh_ = nullptr;
    memory_.reset();
    ThrowStatus(env, status, "ucp_mem_map");
    return;
  }
  if (allocate) {
    ucp_mem_attr_t attr = {};
    attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS | UCP_MEM_ATTR_FIELD_LENGTH;
    ucp_mem_query(memh_, &attr);
    address_ = attr.address;
    length_ = params.length;
  } else {
    // The region is exactly the caller's bytes: ucp_mem_query reports the registration, which UCX
    // may round out to an alignment, and granting that to peers would expose neighbouring memory.
    address_ = params.address;
    length_ = params.length;
  }
  context_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  context_->AddWorker();  // a mapping, like a worker, must go before ucp_cleanup
}

MemoryHandle::~MemoryHandle() { Release(); }

void MemoryHandle::Release() {
  if (memh_ == nullptr) return;
  if (context_->handle() != nullptr) ucp_mem_unmap(context_->handle(), memh_);
  memh_ = nullptr;
  context_->RemoveWorker();
  memory_.reset();
}

// address(): bigint
Napi::Value MemoryHandle::Address(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(address_)));
}

// length(): number
Napi::Value MemoryHandle::Length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(length_));
}

// packRkey(): Buffer -> ucp_rkey_pack
Napi::Value MemoryHandle::PackRkey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (memh_ == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the MemoryHandle is unmapped");
    return env.Undefined();
  }
  void* packed;
  size_t size;
  ucs_status_t status = ucp_rkey_pack(context_->handle(), memh_, &packed, &size);
  if (status != UCS_OK) {
    ThrowStatus(env, status, "ucp_rkey_pack");
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> result = Napi::Buffer<uint8_t>::Copy(env, static_cast<uint8_t*>(packed), size);
  ucp_rkey_buffer_release(packed);
  return result;
}

// unmap(): void -> ucp_mem_unmap
Napi::Value MemoryHandle::Unmap(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

// read(offset, length): Buffer -> a copy of host memory UCX allocated (TS checked the bounds).
// Such a region has no JS view: one would dangle once ucp_mem_unmap frees the memory.
Napi::Value MemoryHandle::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (memh_ == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the MemoryHandle is unmapped");
    return env.Undefined();
  }
  size_t offset = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  size_t length = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  return Napi::Buffer<uint8_t>::Copy(env, static_cast<uint8_t*>(address_) + offset, length);
}

// write(view, offset): void -> copies the view into host memory UCX allocated (TS checked the bounds).
Napi::Value MemoryHandle::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (memh_ == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the MemoryHandle is unmapped");
    return env.Undefined();
  }
  DataArg data;
  if (!ReadData(env, info[0], env.Undefined(), &data)) return env.Undefined();
  size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  std::memcpy(static_cast<uint8_t*>(address_) + offset, data.ptr, data.length);
  return env.Undefined();
}

Napi::Function RemoteKey::Define(Napi::Env env) {
  return DefineClass(env, "RemoteKey",
                     {InstanceMethod<&RemoteKey::DestroyMethod>("destroy"),
                      InstanceMethod<&RemoteKey::FastHandleMethod>("fastHandle")});
}

// Made only by Endpoint.unpackRkey.
RemoteKey::RemoteKey(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RemoteKey>(info) {}

RemoteKey::~RemoteKey() {
  Destroy();
  if (fast_ != nullptr) DropFastTarget(fast_);
}

void RemoteKey::Attach(Endpoint* endpoint, ucp_rkey_h rkey) {
  endpoint_ = endpoint;
  endpoint_ref_ = Napi::Persistent(endpoint->Value());
  rkey_ = rkey;
  endpoint->AddRemoteKey(this);
}

void RemoteKey::Destroy() {
  if (rkey_ == nullptr) return;
  ucp_rkey_destroy(rkey_);
  rkey_ = nullptr;
  endpoint_->RemoveRemoteKey(this);
}

bool RemoteKey::RequireLive(Napi::Env env) {
  if (rkey_ != nullptr) return true;
  ThrowCoded(env, "ERR_UCX_CLOSED", "the RemoteKey is destroyed (or its endpoint closed)");
  return false;
}

// destroy(): void -> ucp_rkey_destroy
Napi::Value RemoteKey::DestroyMethod(const Napi::CallbackInfo& info) {
  Destroy();
  return info.Env().Undefined();
}

}  // namespace nucx
