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

// The events not yet delivered: the queue, and the rest of the batch being delivered.
template <typename Visit>
static void ForEachUndelivered(std::vector<Event>& queue, std::vector<Event>* batch, size_t next,
                               Visit visit) {
  for (Event& event : queue) visit(event);
  if (batch != nullptr)
    for (size_t i = next; i < batch->size(); i++) visit((*batch)[i]);
}

// A listener is destroyed (and has refused every request it had not answered) or an endpoint is
// closed: undelivered events stop naming it, so none reaches an object that may be gone.
void Worker::Forget(Listener* listener, Endpoint* endpoint) {
  ForEachUndelivered(events_, delivering_events_, delivering_next_, [&](Event& event) {
    if (listener != nullptr && event.listener == listener) event.listener = nullptr;
    if (endpoint != nullptr && event.endpoint == endpoint) event.endpoint = nullptr;
  });
}

ucs_status_t Worker::OnActiveMessage(void* arg, const void* header, size_t header_length, void* data,
                                     size_t length, const ucp_am_recv_param_t* param) {
  AmSlot* slot = static_cast<AmSlot*>(arg);
  Worker* self = slot->worker;
  if (slot->queued) return self->QueueActiveMessage(slot, header, header_length, data, length, param);
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
    event.data = std::malloc(length);
    if (event.data == nullptr) {
      event.status = UCS_ERR_NO_MEMORY;  // delivered as the handler's error: the payload is lost
    } else {
      event.am_data_mode = AmDataMode::kCopy;
      std::memcpy(event.data, data, length);
    }
  }
  self->events_.push_back(std::move(event));
  return result;
}

// A queued slot's message waits for amTryRecv; only the bytes UCX does not keep are copied.
ucs_status_t Worker::QueueActiveMessage(AmSlot* slot, const void* header, size_t header_length, void* data,
                                        size_t length, const ucp_am_recv_param_t* param) {
  QueuedAm message;
  message.header.assign(static_cast<const char*>(header), header_length);
  message.length = length;
  ucs_status_t result = UCS_OK;
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    message.mode = AmDataMode::kRendezvous;
    message.data = data;
    result = UCS_INPROGRESS;
  } else if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_DATA) {
    message.mode = AmDataMode::kPersistent;
    message.data = data;
    result = UCS_INPROGRESS;
  } else if (length > 0) {
    message.data = std::malloc(length);
    if (message.data == nullptr) return UCS_OK;  // lost: nothing to hold it in
    message.mode = AmDataMode::kCopy;
    std::memcpy(message.data, data, length);
  }
  slot->queue.push_back(std::move(message));
  if (slot->waiter != nullptr) am_due_ = true;
  return result;
}

// Gives back what a queued message holds (UCX's descriptor, or our copy).
void Worker::ReleaseQueuedAm(QueuedAm& message) {
  switch (message.mode) {
    case AmDataMode::kCopy:
      std::free(message.data);
      break;
    case AmDataMode::kPersistent:
    case AmDataMode::kRendezvous:
      ucp_am_data_release(worker_, message.data);
      break;
    default:
      break;
  }
  message.data = nullptr;
  message.mode = AmDataMode::kNone;
}

// Deliver: the waiters of queued slots that have messages now resolve.
void Worker::ResolveAmWaiters() {
  am_due_ = false;
  for (auto& entry : am_slots_) {
    AmSlot* slot = entry.second.get();
    if (slot->waiter == nullptr || slot->queue.empty()) continue;
    napi_deferred waiter = slot->waiter;
    slot->waiter = nullptr;
    slot->waiter_cancel_id = 0;
    am_waiters_--;
    napi_value undefined;
    napi_get_undefined(env_, &undefined);
    napi_resolve_deferred(env_, waiter, undefined);
  }
  UpdateHandles();
}

// A queued slot stops (activeMessageQueue close, or the worker's): its messages go back, and its
// waiter rejects with `error` (or, when null, is dropped: env teardown).
void Worker::ClearAmQueue(AmSlot* slot, napi_value error) {
  for (QueuedAm& message : slot->queue) ReleaseQueuedAm(message);
  slot->queue.clear();
  if (slot->waiter != nullptr) {
    if (error != nullptr) napi_reject_deferred(env_, slot->waiter, error);
    am_waiters_--;
  }
  slot->waiter = nullptr;
  slot->waiter_cancel_id = 0;
}

bool Worker::CancelAmWaiter(uint32_t cancel_id) {
  for (auto& entry : am_slots_) {
    AmSlot* slot = entry.second.get();
    if (slot->waiter == nullptr || slot->waiter_cancel_id != cancel_id) continue;
    napi_reject_deferred(env_, slot->waiter, MakeStatusError(env_, UCS_ERR_CANCELED, "active message wait"));
    slot->waiter = nullptr;
    slot->waiter_cancel_id = 0;
    am_waiters_--;
    UpdateHandles();
    return true;
  }
  return false;
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
  if (status == UCS_OK)
    napi_get_null(env, &code);
  else
    code = MakeStatusError(env_, status, "active message data");
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
      if (event.endpoint == nullptr) break;  // closed meanwhile (Forget)
      napi_value error = MakeStatusError(env_, event.status, "endpoint error");
      CallHandler({kind, event.endpoint->Value(), error});
      break;
    }
    case kEventConnRequest: {
      if (event.listener == nullptr) break;  // its listener closed and refused it (ForgetListener)
      napi_value request, client, port;
      napi_create_external(env, event.conn_request, nullptr, nullptr, &request);
      ucp_conn_request_attr_t attr = {};
      attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
      std::string text;
      int client_port = 0;
      if (ucp_conn_request_query(event.conn_request, &attr) == UCS_OK) {
        const sockaddr* sa = reinterpret_cast<const sockaddr*>(&attr.client_address);
        text = SockaddrIp(sa);
        client_port = SockaddrPort(sa);
      }
      napi_create_string_utf8(env, text.c_str(), NAPI_AUTO_LENGTH, &client);
      napi_create_int32(env, client_port, &port);
      CallHandler({kind, event.listener->Value(), request, client, port});
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
  if (event.am_data_mode == AmDataMode::kReceived) {
    napi_get_reference_value(env, event.received, &data);
    napi_delete_reference(env, event.received);
    event.received = nullptr;
  } else if (event.am_data_mode == AmDataMode::kNone) {
    napi_get_null(env, &data);
  } else if (event.am_data_mode == AmDataMode::kCopy) {
    // The malloc'd copy becomes the Buffer's memory: no second copy.
    napi_create_external_buffer(
        env, event.length, event.data, [](napi_env, void* bytes, void*) { std::free(bytes); }, nullptr,
        &data);
  } else {
    void* copy;
    napi_create_buffer_copy(env, event.length, event.data, &copy, &data);
    ucp_am_data_release(worker_, event.data);
  }
  EmitActiveMessage(event, data, event.status);
}

// Rendezvous: fetch the payload first, into what the handler's allocator gives (TS checked
// it: [target, memoryType, value], or null to drop the message) or else a fresh Buffer. The
// handler runs when ucp_am_recv_data_nbx completes (CompleteAmData), or at once if it completes
// inline or fails. The target's memory is held like any receive buffer's.
void Worker::ReceiveAmData(Event& event) {
  napi_env env = env_;
  napi_value data;
  DataArg arg;
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
    napi_status called = napi_call_function(env, recv, allocator, 2, args, &result);
    if (called == napi_pending_exception) {
      // The TS wrapper catches the user's errors: this one is ours, and uncaught (as in CallHandler).
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    } else if (called == napi_ok) {
      napi_is_array(env, result, &is_array);
    }
    napi_value target = nullptr, type, length_value;
    if (is_array) {
      napi_get_element(env, result, 0, &target);
      napi_get_element(env, result, 1, &type);
      napi_get_element(env, result, 2, &data);
      napi_get_value_int32(env, type, &memory_type);
      napi_create_double(env, static_cast<double>(event.length), &length_value);
    }
    if (!is_array || !ReadData(Napi::Env(env), target, length_value, &arg) || arg.length < event.length) {
      // Dropped (the TS side reported why): UCX releases the sender's rendezvous.
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
      }
      ucp_am_data_release(worker_, event.data);
      return;
    }
  } else {
    napi_create_buffer(env, event.length, &arg.ptr, &data);
    arg.pinnable = data;
  }
  ucp_request_param_t param = {};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param.cb.recv_am = OnAmData;
  param.memory_type = static_cast<ucs_memory_type_t>(memory_type);
  ucs_status_ptr_t sp = ucp_am_recv_data_nbx(worker_, event.data, arg.ptr, event.length, &param);
  if (sp == nullptr || UCS_PTR_IS_ERR(sp)) {
    EmitActiveMessage(event, data, UCS_PTR_STATUS(sp));
    return;
  }
  Request* request = ClaimRequest(sp, this, RequestKind::kAmData);
  request->memory[0] = PinMemory(arg.pinnable);
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

// Settle: the payload is in (or the receive failed): the message joins the events, and the
// handler runs when the batch's events are delivered (Settle itself runs no JS).
void Worker::CompleteAmData(Request* request) {
  napi_value data = nullptr;
  Event* event = HeldEvent(env_, request->extra, &data);
  event->am_data_mode = AmDataMode::kReceived;
  event->status = request->status;
  napi_create_reference(env_, data, 1, &event->received);
  events_.push_back(std::move(*event));
  delete event;
}

// close() before the payload came: the message is dropped.
void Worker::DiscardAmData(Request* request) { delete HeldEvent(env_, request->extra, nullptr); }

// close(): the payloads of the active messages not delivered yet (queued, or later in the batch
// being delivered) are freed or given back to UCX (a rendezvous descriptor too: the sender's send
// then completes), and the batch ends where it is.
void Worker::ReleaseQueuedEvents() {
  napi_env env = env_;
  ForEachUndelivered(events_, delivering_events_, delivering_next_, [&](Event& event) {
    if (event.kind != kEventActiveMessage) return;
    switch (event.am_data_mode) {
      case AmDataMode::kCopy:
        std::free(event.data);
        break;
      case AmDataMode::kPersistent:
      case AmDataMode::kRendezvous:
        ucp_am_data_release(worker_, event.data);
        break;
      case AmDataMode::kReceived:
        napi_delete_reference(env, event.received);
        break;
      case AmDataMode::kNone:
        break;
    }
  });
  if (delivering_events_ != nullptr) delivering_events_->resize(delivering_next_);
}

}  // namespace nucx
