#include "immune/tpm/loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace immune::tpm {

#define IMMUNE_STR2_(x) #x
#define IMMUNE_STR_(x) IMMUNE_STR2_(x)

const char* TpmModuleBuildId() {
  return "immune-tpm-abi-" IMMUNE_STR_(IMMUNE_TPM_ABI_VERSION) " gcc-abi-" IMMUNE_STR_(
      _GLIBCXX_USE_CXX11_ABI) " " __VERSION__;
}

namespace {

std::string ExecutableDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  std::string p(buf, static_cast<std::size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

std::vector<std::string> Candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("IMMUNE_TPM_MODULE"); env != nullptr && *env != '\0') {
    c.emplace_back(env);
    return c;  // an explicit choice is not second-guessed
  }
  if (std::string dir = ExecutableDir(); !dir.empty()) c.push_back(dir + "/../lib/immune/immune-tpm-esys.so");
#ifdef IMMUNE_TPM_MODULE_BUILD_PATH
  c.emplace_back(IMMUNE_TPM_MODULE_BUILD_PATH);
#endif
  return c;
}

Result<const TpmModuleV1*> Load() {
  std::string tried;
  for (const std::string& path : Candidates()) {
    if (::access(path.c_str(), R_OK) != 0) {
      tried.append(tried.empty() ? "" : ", ").append(path);
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      return Unavailable("cannot load TPM module " + path + ": " + (why != nullptr ? why : "dlopen failed"));
    }
    auto* table = static_cast<const TpmModuleV1*>(::dlsym(handle, kTpmModuleSymbol));
    if (table == nullptr) {
      return Unavailable("TPM module " + path + " has no symbol " + kTpmModuleSymbol);
    }
    if (table->abi != kTpmModuleAbi || std::strcmp(table->build_id, TpmModuleBuildId()) != 0) {
      return Unavailable("TPM module " + path + " was built for another version (" + table->build_id +
                         "; this program: " + TpmModuleBuildId() + ")");
    }
    return table;  // the handle stays open for the life of the process
  }
  return Unavailable("TPM module immune-tpm-esys.so not found (tried " + tried + "; set IMMUNE_TPM_MODULE)");
}

}  // namespace

Result<const TpmModuleV1*> LoadTpmModule() {
  static std::once_flag once;
  static Result<const TpmModuleV1*> loaded = Internal("not loaded");
  std::call_once(once, [] { loaded = Load(); });
  return loaded;
}

Result<std::unique_ptr<Tpm>> OpenTpmModule(std::string_view tcti) {
  IMMUNE_ASSIGN_OR_RETURN(const TpmModuleV1* m, LoadTpmModule());
  return m->open(tcti);
}

}  // namespace immune::tpm
