// ucp_mem_h (MemoryHandle: a registered region and its packed rkey) and
// ucp_rkey_h (RemoteKey: a peer's region, unpacked on one endpoint).
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>

#include "request.h"

namespace nucx {

class Context;
class Endpoint;
struct FastTarget;

class MemoryHandle : public Napi::ObjectWrap<MemoryHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit MemoryHandle(const Napi::CallbackInfo& info);
  ~MemoryHandle() override;

 private:
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value PackRkey(const Napi::CallbackInfo& info);
  Napi::Value Unmap(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  void Release();

  Context* context_ = nullptr;
  Napi::ObjectReference context_ref_;
  PinnedMemory memory_;  // host memory: its backing store stays alive as long as the mapping (request.h)
  ucp_mem_h memh_ = nullptr;
  void* address_ = nullptr;
  size_t length_ = 0;
};

class RemoteKey : public Napi::ObjectWrap<RemoteKey> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RemoteKey(const Napi::CallbackInfo& info);
  ~RemoteKey() override;

  void Attach(Endpoint* endpoint, ucp_rkey_h rkey);
  void Destroy();
  ucp_rkey_h handle() const { return rkey_; }
  bool RequireLive(Napi::Env env);

 private:
  Napi::Value DestroyMethod(const Napi::CallbackInfo& info);
  Napi::Value FastHandleMethod(const Napi::CallbackInfo& info);

  FastTarget* fast_ = nullptr;  // named by fast-path puts, gets and atomics (fastpath.h)
  Endpoint* endpoint_ = nullptr;
  Napi::ObjectReference endpoint_ref_;
  ucp_rkey_h rkey_ = nullptr;
};

}  // namespace nucx
