#include "events.h"

#include <cstdlib>
#include <cstring>

#include "addon.h"
#include "endpoint.h"
#include "listener.h"
#include "status.h"
#include "util/sockaddr.h"
#include "worker.h"

namespace nucx {

void Worker::QueueEndpointError(Endpoint* endpoint, ucs_status_t status) {
  Event event;
  event.kind = kEventEndpointError;
  event.endpoint = endpoint;
  event.status = status;
  events_.push_back(std::move(event));
}

void Worker::QueueConnRequest(Listener* listener, ucp_conn_request_h request) {
  Event event;
  event.kind = kEventConnRequest;
  event.listener = listener;
  event.conn_request = request;
  events_.push_back(std::move(event));
}

// Listener::Destroy: the connection requests still queued for `listener`, off the queue (the
// listener refuses them while it still exists).
std::vector<ucp_conn_request_h> Worker::TakeConnRequests(Listener* listener) {
  std::vector<ucp_conn_request_h> requests;
  for (auto it = events_.begin(); it != events_.end();) {
    if (it->kind == kEventConnRequest && it->listener == listener) {
      requests.push_back(it->conn_request);
      it = events_.erase(it);
    } else {
      ++it;
    }
  }
  return requests;
}

ucs_status_t Worker::OnActiveMessage(void* arg, const void* header, size_t header_length, void* data, size_t length,
                                     const ucp_am_recv_param_t* param) {
  AmSlot* slot = static_cast<AmSlot*>(arg);
  Worker* self = slot->worker;
  Event event;
  event.kind = kEventActiveMessage;
  event.am_id = slot->id;
  event.header.assign(static_cast<const char*>(header), header_length);
  event.length = length;
  if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) event.reply_ep = param->reply_ep;
  ucs_status_t result = UCS_OK;
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    event.am_data_mode = AmDataMode::kRendezvous;  // fetched at delivery, before the handler runs
    event.data = data;
    result = UCS_INPROGRESS;
  } else if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_DATA) {
    event.am_data_mode = AmDataMode::kPersistent;
    event.data = data;
    result = UCS_INPROGRESS;
  } else if (length > 0) {
    event.am_data_mode = AmDataMode::kCopy;
    event.data = std::malloc(length);
    std::memcpy(event.data, data, length);
  }
  self->events_.push_back(std::move(event));
  return result;
}

napi_value Worker::EndpointValue(ucp_ep_h ep) {
  napi_value value;
  if (ep == nullptr) {
    napi_get_null(env_, &value);
    return value;
  }
  auto it = endpoints_.find(ep);
  if (it != endpoints_.end()) return it->second->Value();
  // A reply endpoint UCX made for a peer that connected to our worker address:
  // wrap it (not owned: UCX closes it with the worker).
  Napi::Object object = Addon::Of(env_).endpoint_ctor.New({Value()});
  Endpoint::Unwrap(object)->AdoptReplyEndpoint(ep);
  return object;
}

void Worker::EmitActiveMessage(Event& event, napi_value data, ucs_status_t status) {
  napi_env env = env_;
  napi_value id, header, length, reply, code;
  napi_create_uint32(env, event.am_id, &id);
  void* header_copy;
  napi_create_buffer_copy(env, event.header.size(), event.header.data(), &header_copy, &header);
  napi_create_double(env, static_cast<double>(event.length), &length);
  reply = EndpointValue(event.reply_ep);
  if (status == UCS_OK) napi_get_null(env, &code);
  else code = MakeStatusError(env_, status, "active message data");
  napi_value kind;
  napi_create_int32(env, kEventActiveMessage, &kind);
  CallHandler({kind, id, header, data, length, reply, code});
}

// Calls the JS event handler; an exception it throws is uncaught, like one in a 'data' handler.
void Worker::CallHandler(std::initializer_list<napi_value> args) {
  napi_env env = env_;
  napi_value fn, recv, result;
  napi_get_reference_value(env, handler_.operator napi_ref(), &fn);
  napi_get_undefined(env, &recv);
  napi_status status = napi_call_function(env, recv, fn, args.size(), args.begin(), &result);
  if (status == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);  // like an exception thrown in a 'data' handler
  }
}

void Worker::DeliverEvent(Event& event) {
  napi_env env = env_;
  napi_value kind;
  napi_create_int32(env, event.kind, &kind);
  switch (event.kind) {
    case kEventEndpointError: {
      napi_value error = MakeStatusError(env_, event.status, "endpoint error");
      CallHandler({kind, event.endpoint->Value(), error});
      break;
    }
    case kEventConnRequest: {
      if (listeners_.count(event.listener) == 0) break;  // Listener::Destroy refused it already
      napi_value request, client;
      napi_create_external(env, event.conn_request, nullptr, nullptr, &request);
      ucp_conn_request_attr_t attr = {};
      attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
      std::string text;
      if (ucp_conn_request_query(event.conn_request, &attr) == UCS_OK) {
        text = SockaddrIp(reinterpret_cast<const sockaddr*>(&attr.client_address));
      }
      napi_create_string_utf8(env, text.c_str(), NAPI_AUTO_LENGTH, &client);
      CallHandler({kind, event.listener->Value(), request, client});
      break;
    }
    case kEventActiveMessage:
      DeliverActiveMessage(event);
      break;
  }
}

// The payload is copied into a Buffer for the handler; a rendezvous payload is fetched first.
void Worker::DeliverActiveMessage(Event& event) {
  if (event.am_data_mode == AmDataMode::kRendezvous) {
    ReceiveAmData(event);
    return;
  }
  napi_env env = env_;
  napi_value data;
  if (event.am_data_mode == AmDataMode::kNone) {
    napi_get_null(env, &data);
  } else {
    void* copy;
    napi_create_buffer_copy(env, event.length, event.data, &copy, &data);
    if (event.am_data_mode == AmDataMode::kCopy) std::free(event.data);
    else ucp_am_data_release(worker_, event.data);
  }
  EmitActiveMessage(event, data, UCS_OK);
}

// Rendezvous: fetch the payload first, into what the handler's allocator gives (TS checked
// it: [target, memoryType, value], or null to drop the message) or else a fresh Buffer. The
// handler runs when ucp_am_recv_data_nbx completes (CompleteAmData), or at once if it completes
// inline or fails.
void Worker::ReceiveAmData(Event& event) {
  napi_env env = env_;
  napi_value data;
  void* bytes = nullptr;
  int memory_type = UCS_MEMORY_TYPE_HOST;
  AmSlot* slot = am_slots_.count(event.am_id) != 0 ? am_slots_[event.am_id].get() : nullptr;
  if (slot != nullptr && slot->allocator != nullptr) {
    napi_value allocator, recv, args[2], result;
    napi_get_reference_value(env, slot->allocator, &allocator);
    napi_get_undefined(env, &recv);
    napi_create_double(env, static_cast<double>(event.length), &args[0]);
    void* header_copy;
    napi_create_buffer_copy(env, event.header.size(), event.header.data(), &header_copy, &args[1]);
    bool is_array = false;
    if (napi_call_function(env, recv, allocator, 2, args, &result) == napi_ok) napi_is_array(env, result, &is_array);
    if (!is_array) {
      // Dropped (the TS side reported why): UCX releases the sender's rendezvous.
      ucp_am_data_release(worker_, event.data);
      return;
    }
    napi_value target, type, length_value;
    napi_get_element(env, result, 0, &target);
    napi_get_element(env, result, 1, &type);
    napi_get_element(env, result, 2, &data);
    napi_get_value_int32(env, type, &memory_type);
    napi_create_double(env, static_cast<double>(event.length), &length_value);
    DataArg arg;
    ReadData(Napi::Env(env), target, length_value, &arg);
    bytes = arg.ptr;
  } else {
    napi_create_buffer(env, event.length, &bytes, &data);
  }
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param.cb.recv_am = OnAmData;
  param.memory_type = static_cast<ucs_memory_type_t>(memory_type);
  size_t length = event.length;
  ucs_status_ptr_t sp = ucp_am_recv_data_nbx(worker_, event.data, bytes, length, &param);
  if (sp == nullptr || UCS_PTR_IS_ERR(sp)) {
    EmitActiveMessage(event, data, UCS_PTR_STATUS(sp));
    return;
  }
  Request* request = ClaimRequest(sp, this, RequestKind::kAmData);
  napi_value holder, external;
  napi_create_array_with_length(env, 2, &holder);
  napi_set_element(env, holder, 0, data);
  napi_create_external(env, new Event(std::move(event)), nullptr, nullptr, &external);
  napi_set_element(env, holder, 1, external);
  napi_create_reference(env, holder, 1, &request->extra);
  Track(request);
}

// A rendezvous receive in flight holds [data, External(Event*)] in request->extra: what the
// handler will get as data, and the event to deliver once the payload is in.
static Event* HeldEvent(napi_env env, napi_ref holder_ref, napi_value* data) {
  napi_value holder, external;
  napi_get_reference_value(env, holder_ref, &holder);
  if (data != nullptr) napi_get_element(env, holder, 0, data);
  napi_get_element(env, holder, 1, &external);
  Event* event = nullptr;
  napi_get_value_external(env, external, reinterpret_cast<void**>(&event));
  return event;
}

// Settle: the payload is in (or the receive failed): the handler runs now.
void Worker::CompleteAmData(Request* request) {
  napi_value data = nullptr;
  Event* event = HeldEvent(env_, request->extra, &data);
  EmitActiveMessage(*event, data, request->status);
  delete event;
}

// close() before the payload came: the message is dropped.
void Worker::DiscardAmData(Request* request) { delete HeldEvent(env_, request->extra, nullptr); }

// close(): the payloads of the active messages still queued are freed or given back to UCX.
void Worker::ReleaseQueuedEvents() {
  for (Event& event : events_) {
    if (event.kind == kEventActiveMessage) {
      if (event.am_data_mode == AmDataMode::kCopy) std::free(event.data);
      else if (event.am_data_mode == AmDataMode::kPersistent) ucp_am_data_release(worker_, event.data);
    }
  }
}

}  // namespace nucx
