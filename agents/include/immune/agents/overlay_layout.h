// Where a container's overlay layers are: the lower directories (top
// first), the upper directory and the work directory, read from the host.
//
// A running or paused container's root is an overlay mount; its options in
// /proc/<pid>/mountinfo (or the host's /proc/self/mountinfo, for the mount
// at the bundle's rootfs) name the directories. A stopped container's
// overlay may be unmounted: the caller then builds the OverlayLayout from
// the directories it knows (the runtime's or the snapshotter's records).
// Nothing here enters the container's namespaces or runs inside it.
//
// mountinfo text is kernel output, but the paths in it are chosen by
// whoever mounted (an image's layer names, a bundle path): the parsers
// treat it as untrusted, never assert on it, and name the line of a bad
// record.
//
// Thread safety: values and pure functions (the readers only read /proc).
#ifndef IMMUNE_AGENTS_OVERLAY_LAYOUT_H_
#define IMMUNE_AGENTS_OVERLAY_LAYOUT_H_

#include <string>
#include <string_view>
#include <vector>

#include "immune/agents/container.h"
#include "immune/core/error.h"

namespace immune::agents {

struct OverlayLayout {
  std::vector<std::string> lowers;  // read-only layers, top (nearest the upper) first
  std::string upper;                // empty for a read-only overlay (no upper layer)
  std::string work;                 // informational; never read
  std::string mount_point;          // where it was found mounted; empty when given directly
  bool operator==(const OverlayLayout&) const = default;
};

// One line of /proc/PID/mountinfo (proc(5)), octal escapes (\040) decoded.
struct MountInfoRecord {
  std::string mount_point;
  std::string fs_type;
  std::string source;
  std::string super_options;  // still escaped: split on ',' before decoding
};

// Decodes the \ooo escapes the kernel writes for space, tab, newline and
// backslash. kInvalidArgument for a truncated or non-octal escape.
Result<std::string> DecodeMountEscapes(std::string_view s);

// Parses all of a mountinfo file. Errors are kInvalidArgument naming
// `source` and the 1-based line ("/proc/1/mountinfo:12: ...").
Result<std::vector<MountInfoRecord>> ParseMountInfo(std::string_view text, std::string_view source);

// The layers named by an overlay's super options ("rw,lowerdir=..,upperdir=..,
// workdir=.."): lowerdir's colon-separated list (a "\:" is a colon inside a
// name; a "::" starts the data-only layers, which are kept as lowers, last),
// the repeatable lowerdir+= and datadir+= of newer kernels, upperdir and
// workdir. A relative directory is resolved against `relative_base` (a
// mounter such as Docker's overlay2 chdirs and passes short relative names);
// kInvalidArgument when it is relative and no base is given, or when no
// lower directory is named. Errors name `where`.
Result<OverlayLayout> ParseOverlayOptions(std::string_view super_options, std::string_view where,
                                          const std::string& relative_base = "");

// The overlay mounted at `mount_point` in `mountinfo` (the last, i.e.
// topmost, when several are stacked there). kNotFound when there is none,
// kInvalidArgument when the topmost mount there is not overlayfs.
Result<OverlayLayout> FindOverlayMount(std::string_view mountinfo, std::string_view source,
                                       const std::string& mount_point, const std::string& relative_base = "");

// The layout of a container's root, read from the host:
//  - init_pid set and the process alive with init_start_time (when known):
//    the "/" mount of <proc_root>/<init_pid>/mountinfo (its mount namespace,
//    read through procfs; a frozen process is not woken);
//  - otherwise the mount at info.rootfs in <proc_root>/self/mountinfo.
// kNotFound when neither is an overlay mount: the container is stopped and
// its layout must be given directly.
Result<OverlayLayout> OverlayLayoutForContainer(const ContainerInfo& info,
                                                const std::string& proc_root = "/proc",
                                                const std::string& relative_base = "");

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_OVERLAY_LAYOUT_H_
