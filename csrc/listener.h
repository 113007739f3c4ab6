// ucp_listener: accepts client-server connections on a socket address.
#pragma once
#include <napi.h>
#include <sys/socket.h>
#include <ucp/api/ucp.h>

#include <unordered_set>

namespace nucx {

class Worker;

class Listener : public Napi::ObjectWrap<Listener> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Listener(const Napi::CallbackInfo& info);
  ~Listener() override;

  bool Create(const sockaddr* address, socklen_t length);
  void Destroy();

 private:
  static void OnConnRequest(ucp_conn_request_h request, void* arg);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Accept(const Napi::CallbackInfo& info);
  Napi::Value Reject(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Connection requests UCX gave us and nobody has accepted or rejected yet: UCX wants each answered
  // once, and all of them before the listener is destroyed.
  std::unordered_set<ucp_conn_request_h> unanswered_;
  Worker* worker_ = nullptr;
  Napi::ObjectReference worker_ref_;
  ucp_listener_h listener_ = nullptr;
};

}  // namespace nucx
