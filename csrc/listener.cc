#include "listener.h"

#include "addon.h"
#include "endpoint.h"
#include "status.h"
#include "util/sockaddr.h"
#include "worker.h"

namespace nucx {

Napi::Function Listener::Define(Napi::Env env) {
  return DefineClass(env, "Listener",
                     {
                         InstanceMethod<&Listener::Address>("address"),
                         InstanceMethod<&Listener::Accept>("accept"),
                         InstanceMethod<&Listener::Reject>("reject"),
                         InstanceMethod<&Listener::Close>("close"),
                     });
}

// Made only by Worker.listen.
Listener::Listener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Listener>(info) {
  worker_ = Worker::Unwrap(info[0].As<Napi::Object>());
  worker_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
}

Listener::~Listener() { Destroy(); }

bool Listener::Create(const sockaddr* address, socklen_t length) {
  ucp_listener_params_t params = {};
  params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
  params.sockaddr.addr = address;
  params.sockaddr.addrlen = length;
  params.conn_handler.cb = OnConnRequest;
  params.conn_handler.arg = this;
  ucs_status_t status = ucp_listener_create(worker_->handle(), &params, &listener_);
  if (status != UCS_OK) {
    listener_ = nullptr;
    ThrowStatus(Env(), status, "ucp_listener_create");
    return false;
  }
  worker_->AddListener(this);  // an open listener keeps the process alive, like net.Server
  Ref();
  return true;
}

void Listener::OnConnRequest(ucp_conn_request_h request, void* arg) {
  Listener* self = static_cast<Listener*>(arg);
  self->unanswered_.insert(request);
  self->worker_->QueueConnRequest(self, request);
}

void Listener::Destroy() {
  if (listener_ == nullptr) return;
  // Every request not yet answered is refused while the listener exists (queued ones, those in the
  // batch being delivered, and those JS is still deciding on), and no event names us any more.
  for (ucp_conn_request_h request : unanswered_) ucp_listener_reject(listener_, request);
  unanswered_.clear();
  worker_->Forget(this, nullptr);
  ucp_listener_destroy(listener_);
  listener_ = nullptr;
  worker_->RemoveListener(this);
  Unref();
}

// address(): [ip, port] -> ucp_listener_query
Napi::Value Listener::Address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (listener_ == nullptr) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the Listener is closed");
    return env.Undefined();
  }
  ucp_listener_attr_t attr = {};
  attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
  ucs_status_t status = ucp_listener_query(listener_, &attr);
  if (status != UCS_OK) {
    ThrowStatus(env, status, "ucp_listener_query");
    return env.Undefined();
  }
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(&attr.sockaddr);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::String::New(env, SockaddrIp(sa)));
  result.Set(1u, Napi::Number::New(env, SockaddrPort(sa)));
  return result;
}

// accept(connRequest, peerErrors): NativeEndpoint -> ucp_ep_create(UCP_EP_PARAM_FIELD_CONN_REQUEST)
Napi::Value Listener::Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto request = static_cast<ucp_conn_request_h>(info[0].As<Napi::External<void>>().Data());
  if (unanswered_.erase(request) == 0) {
    ThrowCoded(env, "ERR_UCX_CLOSED", "the connection request was answered already (or its listener closed)");
    return env.Undefined();
  }
  Napi::Object object = Addon::Of(env).endpoint_ctor.New({worker_->Value()});
  ucp_ep_params_t params = {};
  params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST;
  params.conn_request = request;
  if (!Endpoint::Unwrap(object)->Create(params, info[1].As<Napi::Boolean>().Value())) return env.Undefined();
  return object;
}

// reject(connRequest): void -> ucp_listener_reject
Napi::Value Listener::Reject(const Napi::CallbackInfo& info) {
  auto request = static_cast<ucp_conn_request_h>(info[0].As<Napi::External<void>>().Data());
  if (listener_ != nullptr && unanswered_.erase(request) != 0) ucp_listener_reject(listener_, request);
  return info.Env().Undefined();
}

// close(): void -> ucp_listener_destroy
Napi::Value Listener::Close(const Napi::CallbackInfo& info) {
  Destroy();
  return info.Env().Undefined();
}

}  // namespace nucx
