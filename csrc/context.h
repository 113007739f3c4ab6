// ucp_context: features, UCX configuration, supported memory types.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>

namespace nucx {

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Context(const Napi::CallbackInfo& info);
  ~Context() override;

  ucp_context_h handle() const { return context_; }
  // A ucp_context outlives its workers: close() defers ucp_cleanup until the last one is gone.
  void AddWorker() { workers_++; }
  void RemoveWorker();
  void Destroy();

 private:
  Napi::Value MemoryTypes(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  ucp_context_h context_ = nullptr;
  ucp_config_t* config_ = nullptr;
  int workers_ = 0;
  bool close_requested_ = false;
};

}  // namespace nucx
