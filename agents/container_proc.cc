#include "immune/agents/container_proc.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <vector>

#include "immune/core/file.h"

namespace immune::agents {

namespace {

std::string ProcPath(const std::string& proc_root, pid_t pid, const char* leaf) {
  return proc_root + "/" + std::to_string(pid) + "/" + leaf;
}

// kNotFound for a vanished process, so callers can tell it from other errors.
Result<std::uint64_t> StatField(const std::string& path, bool want_dev) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ESRCH) return NotFound(path + ": " + std::strerror(e));
    return IoError(path + ": " + std::strerror(e));
  }
  return want_dev ? static_cast<std::uint64_t>(st.st_dev) : static_cast<std::uint64_t>(st.st_ino);
}

Result<std::string> ReadProcText(const std::string& path) {
  auto t = ReadTextFile(path);
  if (!t.ok() && (t.error().code() == ErrorCode::kNotFound ||
                  t.error().message().find("No such process") != std::string::npos))
    return NotFound(t.error().message());
  return t;
}

}  // namespace

Result<std::uint64_t> ParseProcStatStartTime(std::string_view line, std::string_view source) {
  const auto close = line.rfind(')');
  if (close == std::string_view::npos)
    return Corruption(std::string(source) + ": no ')' closing the command name");
  // After ')' come fields 3 (state), 4, ...; field 22 is the 20th of them.
  std::string_view rest = line.substr(close + 1);
  int field = 2;
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    if (i >= rest.size()) break;
    std::size_t end = rest.find(' ', i);
    if (end == std::string_view::npos) end = rest.size();
    ++field;
    if (field == 22) {
      std::string_view tok = rest.substr(i, end - i);
      while (!tok.empty() && (tok.back() == '\n')) tok.remove_suffix(1);
      std::uint64_t v = 0;
      auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
      if (ec != std::errc() || p != tok.data() + tok.size())
        return Corruption(std::string(source) + ": field 22 (starttime) \"" + std::string(tok) +
                          "\" is not a number");
      return v;
    }
    i = end;
  }
  return Corruption(std::string(source) + ": only " + std::to_string(field) +
                    " fields, no field 22 (starttime)");
}

Result<std::uint64_t> ReadProcessStartTime(pid_t pid, const std::string& proc_root) {
  const std::string path = ProcPath(proc_root, pid, "stat");
  IMMUNE_ASSIGN_OR_RETURN(std::string line, ReadProcText(path));
  return ParseProcStatStartTime(line, path);
}

Result<std::string> ChooseCgroupPath(std::string_view text, std::string_view source) {
  std::map<std::string, std::string> by_controller;  // each controller of a line -> path
  std::string first;
  std::string unified;
  bool have_unified = false;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    // "hierarchy-ID:controller-list:cgroup-path"; the path may contain ':'.
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos)
      return Corruption(std::string(source) + ":" + std::to_string(line_no) +
                        ": expected hierarchy-ID:controllers:path");
    const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path(line.substr(c2 + 1));
    if (first.empty()) first = path;
    if (line.substr(0, c1) == "0" && controllers.empty()) {
      unified = path;
      have_unified = true;
      continue;
    }
    std::size_t s = 0;
    while (s <= controllers.size()) {
      std::size_t comma = controllers.find(',', s);
      if (comma == std::string_view::npos) comma = controllers.size();
      by_controller.emplace(std::string(controllers.substr(s, comma - s)), path);
      s = comma + 1;
    }
  }
  if (line_no == 0 || (first.empty() && !have_unified))
    return Corruption(std::string(source) + ": no cgroup lines");
  if (have_unified && unified != "/") return unified;
  for (const char* c : {"pids", "name=systemd", "memory"})
    if (auto it = by_controller.find(c); it != by_controller.end()) return it->second;
  return have_unified ? unified : first;
}

bool CgroupWithin(std::string_view cgroup, std::string_view container_cgroup) {
  if (container_cgroup.empty() || container_cgroup == "/") return false;  // the root holds everything
  if (cgroup.substr(0, container_cgroup.size()) != container_cgroup) return false;
  return cgroup.size() == container_cgroup.size() || cgroup[container_cgroup.size()] == '/';
}

Result<ProcessIdentity> ReadProcessIdentity(pid_t pid, const std::string& proc_root) {
  if (pid <= 0) return InvalidArgument("pid " + std::to_string(pid) + " is not a process id");
  ProcessIdentity id;
  id.pid = pid;
  IMMUNE_ASSIGN_OR_RETURN(id.start_time, ReadProcessStartTime(pid, proc_root));
  IMMUNE_ASSIGN_OR_RETURN(id.pidns_inode, StatField(ProcPath(proc_root, pid, "ns/pid"), false));
  IMMUNE_ASSIGN_OR_RETURN(id.mntns_inode, StatField(ProcPath(proc_root, pid, "ns/mnt"), false));
  // The root is unreadable for a zombie or across user namespaces: not fatal.
  auto dev = StatField(ProcPath(proc_root, pid, "root/"), true);
  id.root_dev = dev.ok() ? *dev : 0;
  const std::string cg_path = ProcPath(proc_root, pid, "cgroup");
  IMMUNE_ASSIGN_OR_RETURN(std::string cg, ReadProcText(cg_path));
  IMMUNE_ASSIGN_OR_RETURN(id.cgroup, ChooseCgroupPath(cg, cg_path));
  // The pid may have been reused while we read: the start time must not move.
  IMMUNE_ASSIGN_OR_RETURN(std::uint64_t again, ReadProcessStartTime(pid, proc_root));
  if (again != id.start_time)
    return NotFound("process " + std::to_string(pid) + " exited while being read (its pid was reused)");
  return id;
}

}  // namespace immune::agents
