#include "immune/core/module.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace immune {

#define IMMUNE_MODULE_STR2_(x) #x
#define IMMUNE_MODULE_STR_(x) IMMUNE_MODULE_STR2_(x)

const char* ModuleBuildId() { return "gcc-abi-" IMMUNE_MODULE_STR_(_GLIBCXX_USE_CXX11_ABI) " " __VERSION__; }

namespace {

std::string ExecutableDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  std::string p(buf, static_cast<std::size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

std::vector<std::string> Candidates(const ModuleSpec& spec) {
  std::vector<std::string> c;
  if (const char* env = std::getenv(spec.env_var.c_str()); env != nullptr && *env != '\0') {
    c.emplace_back(env);
    return c;
  }
  if (std::string dir = ExecutableDir(); !dir.empty()) c.push_back(dir + "/../lib/immune/" + spec.file_name);
  if (!spec.build_path.empty()) c.push_back(spec.build_path);
  return c;
}

}  // namespace

Result<const void*> LoadModuleTable(const ModuleSpec& spec) {
  std::string tried;
  for (const std::string& path : Candidates(spec)) {
    if (::access(path.c_str(), R_OK) != 0) {
      tried.append(tried.empty() ? "" : ", ").append(path);
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      return Unavailable("cannot load " + spec.description + " " + path + ": " +
                         (why != nullptr ? why : "dlopen failed"));
    }
    const void* table = ::dlsym(handle, spec.symbol.c_str());
    if (table == nullptr) return Unavailable(spec.description + " " + path + " has no symbol " + spec.symbol);
    const auto* header = static_cast<const ModuleHeader*>(table);
    if (header->abi != spec.abi || std::strcmp(header->build_id, ModuleBuildId()) != 0) {
      return Unavailable(spec.description + " " + path + " was built for another version (table " +
                         std::to_string(header->abi) + ", " + header->build_id + "; this program: table " +
                         std::to_string(spec.abi) + ", " + ModuleBuildId() + ")");
    }
    return table;  // the handle stays open for the life of the process
  }
  return Unavailable(spec.description + " " + spec.file_name + " not found (tried " + tried + "; set " +
                     spec.env_var + ")");
}

}  // namespace immune
