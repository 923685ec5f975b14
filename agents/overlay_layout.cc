#include "immune/agents/overlay_layout.h"

#include <sys/stat.h>

#include "immune/agents/container_proc.h"
#include "immune/core/file.h"

namespace immune::agents {

namespace {

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    const std::size_t j = line.find(' ', i);
    const std::size_t end = j == std::string_view::npos ? line.size() : j;
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

// Splits on unescaped `sep` (a backslash escapes the next character; the
// backslash is kept for DecodeLowerName).
std::vector<std::string_view> SplitUnescaped(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

// "\:" -> ":" (overlayfs's escape inside lowerdir); other backslashes kept.
std::string DecodeLowerName(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == ':' || s[i + 1] == ',' || s[i + 1] == '\\')) ++i;
    out.push_back(s[i]);
  }
  return out;
}

Result<std::string> Resolve(std::string path, const std::string& base, std::string_view where,
                            std::string_view option) {
  if (path.empty())
    return InvalidArgument(std::string(where) + ": " + std::string(option) + " names an empty directory");
  if (path.front() == '/') return path;
  if (base.empty()) {
    return InvalidArgument(std::string(where) + ": " + std::string(option) + " directory '" + path +
                           "' is relative and no base directory was given");
  }
  return base + (base.back() == '/' ? "" : "/") + path;
}

}  // namespace

Result<std::string> DecodeMountEscapes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 3 >= s.size()) {
      return InvalidArgument("truncated escape at column " + std::to_string(i + 1));
    }
    int v = 0;
    for (std::size_t k = 1; k <= 3; ++k) {
      const char c = s[i + k];
      if (c < '0' || c > '7') return InvalidArgument("bad escape at column " + std::to_string(i + 1));
      v = v * 8 + (c - '0');
    }
    if (v > 255) return InvalidArgument("bad escape at column " + std::to_string(i + 1));
    out.push_back(static_cast<char>(v));
    i += 3;
  }
  return out;
}

Result<std::vector<MountInfoRecord>> ParseMountInfo(std::string_view text, std::string_view source) {
  std::vector<MountInfoRecord> out;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    const std::string where = std::string(source) + ":" + std::to_string(line_no);
    const auto f = SplitFields(line);
    // id parent maj:min root mount-point options [optional...] - type source super-options
    std::size_t sep = 6;
    while (sep < f.size() && f[sep] != "-") ++sep;
    if (f.size() < 6 || sep + 2 >= f.size()) {
      return InvalidArgument(where +
                             ": expected 'id parent dev root mount-point options ... - type source "
                             "super-options', got " +
                             std::to_string(f.size()) + " fields");
    }
    MountInfoRecord r;
    auto mp = DecodeMountEscapes(f[4]);
    if (!mp.ok()) return mp.error().WithContext(where + ": mount point");
    r.mount_point = std::move(*mp);
    auto type = DecodeMountEscapes(f[sep + 1]);
    if (!type.ok()) return type.error().WithContext(where + ": fs type");
    r.fs_type = std::move(*type);
    auto src = DecodeMountEscapes(f[sep + 2]);
    if (!src.ok()) return src.error().WithContext(where + ": source");
    r.source = std::move(*src);
    r.super_options = sep + 3 < f.size() ? std::string(f[sep + 3]) : std::string();
    out.push_back(std::move(r));
  }
  return out;
}

Result<OverlayLayout> ParseOverlayOptions(std::string_view super_options, std::string_view where,
                                          const std::string& relative_base) {
  OverlayLayout layout;
  std::vector<std::string> data_layers;
  std::size_t column = 1;
  for (std::string_view opt : SplitUnescaped(super_options, ',')) {
    const std::string at = std::string(where) + ": option at column " + std::to_string(column);
    column += opt.size() + 1;
    const std::size_t eq = opt.find('=');
    if (eq == std::string_view::npos) continue;  // rw, index=on-style flags without '=' are not ours
    const std::string_view key = opt.substr(0, eq);
    auto value = DecodeMountEscapes(opt.substr(eq + 1));
    if (!value.ok()) return value.error().WithContext(at + " (" + std::string(key) + ")");
    if (key == "lowerdir") {
      // "a:b::c" - after "::" come data-only layers.
      bool data = false;
      for (std::string_view part : SplitUnescaped(*value, ':')) {
        if (part.empty()) {
          if (data) return InvalidArgument(at + ": lowerdir has an empty layer name");
          data = true;
          continue;
        }
        IMMUNE_ASSIGN_OR_RETURN(std::string dir,
                                Resolve(DecodeLowerName(part), relative_base, at, "lowerdir"));
        (data ? data_layers : layout.lowers).push_back(std::move(dir));
      }
    } else if (key == "lowerdir+") {
      IMMUNE_ASSIGN_OR_RETURN(std::string dir, Resolve(*value, relative_base, at, "lowerdir+"));
      layout.lowers.push_back(std::move(dir));
    } else if (key == "datadir+") {
      IMMUNE_ASSIGN_OR_RETURN(std::string dir, Resolve(*value, relative_base, at, "datadir+"));
      data_layers.push_back(std::move(dir));
    } else if (key == "upperdir") {
      IMMUNE_ASSIGN_OR_RETURN(layout.upper, Resolve(*value, relative_base, at, "upperdir"));
    } else if (key == "workdir") {
      IMMUNE_ASSIGN_OR_RETURN(layout.work, Resolve(*value, relative_base, at, "workdir"));
    }
  }
  if (layout.lowers.empty())
    return InvalidArgument(std::string(where) + ": overlay options name no lowerdir");
  for (auto& d : data_layers) layout.lowers.push_back(std::move(d));
  return layout;
}

Result<OverlayLayout> FindOverlayMount(std::string_view mountinfo, std::string_view source,
                                       const std::string& mount_point, const std::string& relative_base) {
  IMMUNE_ASSIGN_OR_RETURN(auto records, ParseMountInfo(mountinfo, source));
  const MountInfoRecord* top = nullptr;
  for (const auto& r : records) {
    if (r.mount_point == mount_point) top = &r;
  }
  if (top == nullptr) return NotFound(std::string(source) + ": nothing is mounted at " + mount_point);
  if (top->fs_type != "overlay") {
    return InvalidArgument(std::string(source) + ": the mount at " + mount_point + " is " + top->fs_type +
                           ", not overlay");
  }
  auto layout = ParseOverlayOptions(top->super_options, std::string(source) + ": mount at " + mount_point,
                                    relative_base);
  if (!layout.ok()) return layout.error();
  layout->mount_point = mount_point;
  return layout;
}

Result<OverlayLayout> OverlayLayoutForContainer(const ContainerInfo& info, const std::string& proc_root,
                                                const std::string& relative_base) {
  if (info.init_pid > 0 && info.status != ContainerStatus::kStopped) {
    const std::string path = proc_root + "/" + std::to_string(info.init_pid) + "/mountinfo";
    auto text = ReadTextFile(path);
    // The start time is read after the mountinfo: if it still matches, the
    // mountinfo was that process's (a reused pid would differ).
    auto start = ReadProcessStartTime(info.init_pid, proc_root);
    const bool same = start.ok() && (info.init_start_time == 0 || *start == info.init_start_time);
    if (text.ok() && same) {
      auto layout = FindOverlayMount(*text, path, "/", relative_base);
      if (layout.ok() || layout.error().code() != ErrorCode::kNotFound) {
        if (!layout.ok()) return layout.error().WithContext("container " + info.id);
        return layout;
      }
    }
  }
  if (info.rootfs.empty()) {
    return NotFound("container " + info.id + ": no live init process and no rootfs path to look up");
  }
  const std::string self = proc_root + "/self/mountinfo";
  IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(self));
  auto layout = FindOverlayMount(text, self, info.rootfs, relative_base);
  if (!layout.ok()) return layout.error().WithContext("container " + info.id);
  return layout;
}

}  // namespace immune::agents
