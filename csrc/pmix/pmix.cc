// node_ucx_pmix: an optional, separate addon over the PMIx client API (pmix.h), for the MPI shim's
// bootstrap under launchers that serve PMIx (Open MPI's mpirun, Slurm's srun --mpi=pmix). Built only
// where libpmix-dev is installed (binding.gyp), loaded only when PMIX_NAMESPACE and PMIX_RANK are set
// (src/mpi/pmix.ts). A thin skin: put/commit/fence/get of byte objects, init, finalize, abort; the
// policy (keys, what is published, timeouts) is TypeScript's.
#include <napi.h>
#include <pmix.h>

#include <cstring>
#include <string>

namespace {

pmix_proc_t self;
bool initialized = false;

// Every failure is an Error with code ERR_MPI_BOOTSTRAP and PMIx's name for the status.
Napi::Value Fail(Napi::Env env, const char* call, pmix_status_t rc) {
  std::string message = std::string(call) + " failed: " + PMIx_Error_string(rc);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_MPI_BOOTSTRAP"));
  error.Set("status", Napi::Number::New(env, rc));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

// init(): { namespace, rank } — PMIx_Init
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!initialized) {
    pmix_status_t rc = PMIx_Init(&self, nullptr, 0);
    if (rc != PMIX_SUCCESS) return Fail(env, "PMIx_Init", rc);
    initialized = true;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("namespace", Napi::String::New(env, self.nspace));
  result.Set("rank", Napi::Number::New(env, self.rank));
  return result;
}

// put(key: string, value: Uint8Array): void — PMIx_Put(PMIX_GLOBAL, key, byte object); PMIx copies the value
Napi::Value Put(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string key = info[0].As<Napi::String>().Utf8Value();
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  pmix_value_t value;
  PMIX_VALUE_CONSTRUCT(&value);
  value.type = PMIX_BYTE_OBJECT;
  value.data.bo.bytes = reinterpret_cast<char*>(bytes.Data());
  value.data.bo.size = bytes.ByteLength();
  pmix_status_t rc = PMIx_Put(PMIX_GLOBAL, key.c_str(), &value);
  if (rc != PMIX_SUCCESS) return Fail(env, "PMIx_Put", rc);
  return env.Undefined();
}

// commit(): void — PMIx_Commit
Napi::Value Commit(const Napi::CallbackInfo& info) {
  pmix_status_t rc = PMIx_Commit();
  if (rc != PMIX_SUCCESS) return Fail(info.Env(), "PMIx_Commit", rc);
  return info.Env().Undefined();
}

// fence(timeoutSeconds: number): void — PMIx_Fence over this namespace, collecting the data put so far
Napi::Value Fence(const Napi::CallbackInfo& info) {
  bool collect = true;
  int timeout = info[0].As<Napi::Number>().Int32Value();
  pmix_info_t directives[2];
  PMIX_INFO_CONSTRUCT(&directives[0]);
  PMIX_INFO_CONSTRUCT(&directives[1]);
  PMIX_INFO_LOAD(&directives[0], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
  PMIX_INFO_LOAD(&directives[1], PMIX_TIMEOUT, &timeout, PMIX_INT);
  pmix_status_t rc = PMIx_Fence(nullptr, 0, directives, 2);
  PMIX_INFO_DESTRUCT(&directives[0]);
  PMIX_INFO_DESTRUCT(&directives[1]);
  if (rc != PMIX_SUCCESS) return Fail(info.Env(), "PMIx_Fence", rc);
  return info.Env().Undefined();
}

// get(namespace: string, rank: number, key: string): Buffer — PMIx_Get of a byte object
Napi::Value Get(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string nspace = info[0].As<Napi::String>().Utf8Value();
  uint32_t rank = info[1].As<Napi::Number>().Uint32Value();
  std::string key = info[2].As<Napi::String>().Utf8Value();
  pmix_proc_t proc;
  PMIX_PROC_CONSTRUCT(&proc);
  PMIX_LOAD_PROCID(&proc, nspace.c_str(), rank);
  pmix_value_t* value = nullptr;
  pmix_status_t rc = PMIx_Get(&proc, key.c_str(), nullptr, 0, &value);
  if (rc != PMIX_SUCCESS) return Fail(env, "PMIx_Get", rc);
  if (value->type != PMIX_BYTE_OBJECT) {
    PMIX_VALUE_RELEASE(value);
    return Fail(env, "PMIx_Get (not a byte object)", PMIX_ERR_TYPE_MISMATCH);
  }
  Napi::Buffer<char> result = Napi::Buffer<char>::Copy(env, value->data.bo.bytes, value->data.bo.size);
  PMIX_VALUE_RELEASE(value);
  return result;
}

// finalize(): void — PMIx_Finalize
Napi::Value Finalize(const Napi::CallbackInfo& info) {
  if (initialized) {
    initialized = false;
    pmix_status_t rc = PMIx_Finalize(nullptr, 0);
    if (rc != PMIX_SUCCESS) return Fail(info.Env(), "PMIx_Finalize", rc);
  }
  return info.Env().Undefined();
}

// abort(status: number, message: string): void — PMIx_Abort (the launcher ends the job)
Napi::Value Abort(const Napi::CallbackInfo& info) {
  int status = info[0].As<Napi::Number>().Int32Value();
  std::string message = info[1].As<Napi::String>().Utf8Value();
  pmix_status_t rc = PMIx_Abort(status, message.c_str(), nullptr, 0);
  if (rc != PMIX_SUCCESS) return Fail(info.Env(), "PMIx_Abort", rc);
  return info.Env().Undefined();
}

Napi::Object Initialize(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("put", Napi::Function::New(env, Put));
  exports.Set("commit", Napi::Function::New(env, Commit));
  exports.Set("fence", Napi::Function::New(env, Fence));
  exports.Set("get", Napi::Function::New(env, Get));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("version", Napi::String::New(env, PMIx_Get_version()));
  return exports;
}

}  // namespace

NODE_API_MODULE(node_ucx_pmix, Initialize)
