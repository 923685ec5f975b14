#include "immune/policy/lint.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "immune/core/file.h"

namespace immune::policy {

std::string Finding::ToString() const {
  return where.ToString() + (severity == Severity::kError ? ": error: " : ": warning: ") + message;
}

bool HasErrors(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kError; });
}

namespace {

// A parse error reads "SOURCE:LINE:COLUMN: message"; splits it back into a
// located finding.
Finding FromParseError(const Error& e, std::string_view source) {
  Finding f{Severity::kError, Location{std::string(source), 0, 0}, e.message()};
  std::string_view m = e.message();
  if (!m.starts_with(source) || m.size() <= source.size() || m[source.size()] != ':') return f;
  m.remove_prefix(source.size() + 1);
  int line = 0, column = 0;
  auto r1 = std::from_chars(m.data(), m.data() + m.size(), line);
  if (r1.ec != std::errc() || *r1.ptr != ':') return f;
  auto r2 = std::from_chars(r1.ptr + 1, m.data() + m.size(), column);
  if (r2.ec != std::errc() || std::string_view(r2.ptr, 2) != ": ") return f;
  f.where.line = line;
  f.where.column = column;
  f.message = std::string(r2.ptr + 2, m.data() + m.size());
  return f;
}

void CheckFiles(const Rule& r, std::vector<Finding>& out) {
  auto check = [&](const std::string& file, const char* what) {
    if (access(file.c_str(), R_OK) != 0) {
      out.push_back({Severity::kError, r.where, std::string(what) + " '" + file + "' cannot be read"});
    }
  };
  for (const std::string& f : r.files) check(f, "signed list");
  for (const std::string& k : r.keys) check(k, "key file");
}

}  // namespace

std::vector<Finding> LintPolicy(std::string_view text, std::string_view source) {
  std::vector<Finding> out;
  auto docs = ParseDocuments(text, source);
  if (!docs.ok()) {
    out.push_back(FromParseError(docs.error(), source));
    return out;
  }
  std::map<std::string, std::pair<Mode, Location>> modes;  // by scope
  // (scope, side, digest, path) -> first place, for duplicates and shadowing.
  std::map<std::string, Location> seen;
  auto key = [](const Document& d, const std::string& side, const DigestRef& dig, const std::string& path) {
    return d.scope.ToString() + "|" + side + "|" + dig.ToString() + "|" + path;
  };
  for (const Document& d : *docs) {
    if (d.mode) {
      auto [it, fresh] = modes.emplace(d.scope.ToString(), std::make_pair(*d.mode, d.where));
      if (!fresh && it->second.first != *d.mode) {
        out.push_back({Severity::kError, d.where,
                       "mode " + std::string(ModeName(*d.mode)) + " conflicts with mode " +
                           std::string(ModeName(it->second.first)) + " for " + d.scope.ToString() + " at " +
                           it->second.second.ToString()});
      }
    }
    if (d.allow.empty() && d.mode.value_or(Mode::kEnforce) == Mode::kEnforce) {
      out.push_back({Severity::kWarning, d.where,
                     "enforce document with no allow entries: everything in " + d.scope.ToString() +
                         " is denied unless another document allows it"});
    }
    for (const Rule& r : d.deny) {
      CheckFiles(r, out);
      for (const DigestRef& dig : r.digests) {
        const std::string path = r.kind == RuleKind::kPathDigest ? r.path : "";
        auto [it, fresh] = seen.emplace(key(d, "deny", dig, path), r.where);
        if (!fresh) {
          out.push_back(
              {Severity::kWarning, r.where,
               "duplicate deny of " + dig.ToString() + " (first at " + it->second.ToString() + ")"});
        }
      }
    }
  }
  for (const Document& d : *docs) {
    for (const Rule& r : d.allow) {
      CheckFiles(r, out);
      if (r.kind == RuleKind::kPathGlob || r.kind == RuleKind::kPathRegex) {
        out.push_back({Severity::kWarning, r.where,
                       "path-only allow '" + r.path + "': any content at a matching path is allowed (weak)"});
      }
      for (const DigestRef& dig : r.digests) {
        const std::string path = r.kind == RuleKind::kPathDigest ? r.path : "";
        for (const std::string& p : {std::string(), path}) {
          auto deny = seen.find(key(d, "deny", dig, p));
          if (deny != seen.end()) {
            out.push_back(
                {Severity::kWarning, r.where,
                 "allow of " + dig.ToString() + " is shadowed by the deny at " + deny->second.ToString()});
            break;
          }
        }
        auto [it, fresh] = seen.emplace(key(d, "allow", dig, path), r.where);
        if (!fresh) {
          out.push_back({Severity::kWarning, r.where,
                         "duplicate allow of " + dig.ToString() + (path.empty() ? "" : " at " + path) +
                             " (first at " + it->second.ToString() + ")"});
        }
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  return out;
}

std::vector<Finding> LintPolicyFile(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return {Finding{Severity::kError, Location{path, 0, 0}, text.error().message()}};
  return LintPolicy(*text, path);
}

}  // namespace immune::policy
