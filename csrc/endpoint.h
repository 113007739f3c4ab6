// ucp_ep: tag, stream and active-message sends, stream receives, RMA, atomics, close.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>

#include <unordered_set>

#include "request.h"

namespace nucx {

class Worker;
class RemoteKey;
struct FastCall;
struct FastTarget;

class Endpoint : public Napi::ObjectWrap<Endpoint> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Endpoint(const Napi::CallbackInfo& info);
  ~Endpoint() override;

  // ucp_ep_create with PEER error handling (or none: faster, shared memory on UCX 1.13,
  // but a dead peer goes unnoticed); throws and returns false on failure.
  bool Create(ucp_ep_params_t& params, bool peer_errors);
  // Wraps a reply endpoint that UCX created for a peer (not ours to close).
  void AdoptReplyEndpoint(ucp_ep_h ep);
  // Worker shutdown: force-close without waiting.
  void Abandon();

  ucp_ep_h handle() const { return ep_; }
  Worker* worker() const { return worker_; }
  void AddRemoteKey(RemoteKey* key) { rkeys_.insert(key); }
  void RemoveRemoteKey(RemoteKey* key) { rkeys_.erase(key); }
  // The worker settled (or dropped) this endpoint's close request.
  void CloseCompleted(Request* request) {
    if (close_request_ == request) close_request_ = nullptr;
  }

  // The fast path (bound functions, fastpath.h; made by fastOps()): operations that return at once
  // when UCX completes them inline and are counted on a batch (batch.h) when it does not.
  napi_value FastTagSend(napi_env env, FastCall& call);
  napi_value FastTagSendMany(napi_env env, FastCall& call);
  napi_value FastStreamSend(napi_env env, FastCall& call);
  napi_value FastAmSend(napi_env env, FastCall& call);
  napi_value FastPut(napi_env env, FastCall& call);
  napi_value FastGet(napi_env env, FastCall& call);
  napi_value FastAtomic(napi_env env, FastCall& call);

 private:
  static void OnError(void* arg, ucp_ep_h ep, ucs_status_t status);

  Napi::Value TagSend(const Napi::CallbackInfo& info);
  Napi::Value StreamSend(const Napi::CallbackInfo& info);
  Napi::Value StreamRecv(const Napi::CallbackInfo& info);
  Napi::Value AmSend(const Napi::CallbackInfo& info);
  Napi::Value Put(const Napi::CallbackInfo& info);
  Napi::Value Get(const Napi::CallbackInfo& info);
  Napi::Value Atomic(const Napi::CallbackInfo& info);
  Napi::Value UnpackRkey(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value AbandonClose(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value FastOps(const Napi::CallbackInfo& info);
  napi_value FastRma(napi_env env, FastCall& call, bool put);

  void Detach();  // forget the ucp_ep: unregister, destroy rkeys, drop the self-reference
  bool RequireOpen(Napi::Env env);

  Worker* worker_ = nullptr;
  Napi::ObjectReference worker_ref_;
  ucp_ep_h ep_ = nullptr;
  bool owned_ = true;
  bool peer_errors_ = true;           // UCP_ERR_HANDLING_MODE_PEER; UCX refuses a forced close without it
  Request* close_request_ = nullptr;  // ucp_ep_close_nbx in flight, until it completes or is abandoned
  std::unordered_set<RemoteKey*> rkeys_;
  FastTarget* fast_ = nullptr;  // shared with the bound functions of fastOps()
};

}  // namespace nucx
