// The fast path's calling convention (fastpath.cc): plain functions bound to their native object
// through napi_create_function's `data`, not ObjectWrap methods. An ObjectWrap method finds its
// object with napi_unwrap, a private-property lookup that was ~40 % of a small call on Node 20
// (perf: v8::Object::GetPrivate, LookupIterator); the bound function reads a pointer.
//
// The object and its functions share a FastTarget: the object clears it when it is destroyed (a
// later call throws ERR_UCX_CLOSED), and the target is freed once the object and every function
// are gone.
#pragma once
#include <napi.h>

#include <cstdint>

namespace nucx {

struct FastTarget {
  void* object;
  uint32_t refs;
};

// A target for `object`, with the object's own reference.
FastTarget* NewFastTarget(void* object);
// The object goes: calls through the target now fail, and the object's reference is dropped.
void DropFastTarget(FastTarget* target);
// holder[name] = a function calling `callback` with `target` as its data (it holds a reference).
void DefineFastFunction(napi_env env, napi_value holder, const char* name, napi_callback callback,
                        FastTarget* target);
// An External naming `target` (holding a reference): how another object's fast calls name this one.
napi_value FastHandle(napi_env env, FastTarget* target);
// The object behind a FastHandle (null, with ERR_UCX_CLOSED thrown, when it is gone).
void* FastHandleObject(napi_env env, napi_value handle, const char* what);

// The arguments of a bound call and the object it is bound to (null, with ERR_UCX_CLOSED thrown,
// when the object is gone). At most 12 arguments.
struct FastCall {
  napi_value args[12];
  size_t argc = 12;
  void* object = nullptr;
};
bool ReadFastCall(napi_env env, napi_callback_info info, FastCall* call, const char* what);

}  // namespace nucx
