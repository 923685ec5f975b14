#include "immune/tsbd/curve.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "immune/core/file.h"
#include "immune/core/log.h"

namespace immune::tsbd {

namespace {

constexpr std::size_t kZ85KeyLength = 40;

std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// A Z85 key decodes to 32 bytes.
bool ValidZ85Key(const std::string& z85) {
  if (z85.size() != kZ85KeyLength) return false;
  std::uint8_t raw[32];
  return zmq_z85_decode(raw, z85.c_str()) != nullptr;
}

Status WriteKey(const std::string& path, const std::string& z85, unsigned mode) {
  const std::string text = z85 + "\n";
  return WriteFileAtomic(path, ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                         mode);
}

}  // namespace

bool CurveAvailable() { return zmq_has("curve") != 0; }

Result<std::string> ReadPublicKeyFile(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.error().WithContext("CURVE public key file " + path);
  std::string key = Trim(std::move(text).value());
  if (!ValidZ85Key(key))
    return InvalidArgument("CURVE public key file " + path + ": expected a Z85 key of 40 characters");
  return key;
}

Result<CurveKeyPair> LoadOrCreateServerKeys(const std::string& secret_path, const std::string& public_path,
                                            bool create) {
  if (!CurveAvailable())
    return Unsupported("CURVE server key " + secret_path + ": libzmq was built without CURVE");
  struct stat st {};
  if (::stat(secret_path.c_str(), &st) != 0) {
    if (errno != ENOENT || !create)
      return IoError("CURVE server secret key file " + secret_path + ": " + std::strerror(errno));
    char pub[kZ85KeyLength + 1] = {}, sec[kZ85KeyLength + 1] = {};
    if (zmq_curve_keypair(pub, sec) != 0)
      return Internal("CURVE server secret key file " + secret_path +
                      ": zmq_curve_keypair: " + zmq_strerror(zmq_errno()));
    CurveKeyPair kp{pub, sec};
    std::memset(sec, 0, sizeof(sec));
    IMMUNE_RETURN_IF_ERROR(WriteKey(secret_path, kp.secret_z85, 0600));
    if (::chmod(secret_path.c_str(), 0600) != 0)
      return IoError("CURVE server secret key file " + secret_path + ": chmod 0600: " + std::strerror(errno));
    IMMUNE_RETURN_IF_ERROR(WriteKey(public_path, kp.public_z85, 0644));
    LogInfo("CURVE server key pair generated: " + secret_path + " (public key " + kp.public_z85 + " in " +
            public_path + ")");
    return kp;
  }
  if (st.st_mode & 0077)
    return Error(ErrorCode::kPermissionDenied, "CURVE server secret key file " + secret_path +
                                                   ": readable by group or others (chmod 0600)");
  auto text = ReadTextFile(secret_path);
  if (!text.ok()) return text.error().WithContext("CURVE server secret key file " + secret_path);
  CurveKeyPair kp;
  kp.secret_z85 = Trim(std::move(text).value());
  if (!ValidZ85Key(kp.secret_z85))
    return InvalidArgument("CURVE server secret key file " + secret_path +
                           ": expected a Z85 key of 40 characters");
  char pub[kZ85KeyLength + 1] = {};
  if (zmq_curve_public(pub, kp.secret_z85.c_str()) != 0)
    return Internal("CURVE server secret key file " + secret_path +
                    ": zmq_curve_public: " + zmq_strerror(zmq_errno()));
  kp.public_z85 = pub;
  // The public key file follows the secret key (rewritten if it differs).
  auto have = ReadTextFile(public_path);
  if (!have.ok() || Trim(*have) != kp.public_z85)
    IMMUNE_RETURN_IF_ERROR(WriteKey(public_path, kp.public_z85, 0644));
  return kp;
}

Result<std::set<std::string>> LoadClientKeys(const std::vector<std::string>& paths, std::string_view what) {
  std::set<std::string> keys;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      std::vector<std::string> files;
      for (const auto& de : std::filesystem::directory_iterator(p, ec)) {
        if (de.is_regular_file(ec) && de.path().extension() == ".pub") files.push_back(de.path().string());
      }
      if (ec) return IoError(std::string(what) + ": directory " + p + ": " + ec.message());
      for (const auto& f : files) {
        auto k = ReadPublicKeyFile(f);
        if (!k.ok()) return k.error().WithContext(std::string(what));
        keys.insert(*k);
      }
      continue;
    }
    auto k = ReadPublicKeyFile(p);
    if (!k.ok()) return k.error().WithContext(std::string(what));
    keys.insert(*k);
  }
  return keys;
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& context,
                                                      std::map<std::string, std::set<std::string>> allow,
                                                      const std::vector<Monitored>& monitored) {
  std::unique_ptr<ZapHandler> h(new ZapHandler());
  h->allow_ = std::move(allow);
  h->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (h->stop_fd_ < 0) return IoError(std::string("ZAP handler: eventfd: ") + std::strerror(errno));
  try {
    h->socket_ = std::make_unique<zmq::socket_t>(context, zmq::socket_type::rep);
    h->socket_->set(zmq::sockopt::linger, 0);
    h->socket_->bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Internal(std::string("ZAP handler ") + kZapEndpoint + ": " + e.what());
  }
  for (std::size_t i = 0; i < monitored.size(); ++i) {
    const std::string ep = "inproc://immuned-handshake-monitor-" + std::to_string(i);
    constexpr int kEvents = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(monitored[i].socket->handle(), ep.c_str(), kEvents) != 0)
      return Internal(monitored[i].name + ": socket monitor: " + zmq_strerror(zmq_errno()));
    try {
      auto m = std::make_unique<zmq::socket_t>(context, zmq::socket_type::pair);
      m->set(zmq::sockopt::linger, 0);
      m->connect(ep);
      h->monitors_.push_back(std::move(m));
      h->monitor_names_.push_back(monitored[i].name);
    } catch (const zmq::error_t& e) {
      return Internal(monitored[i].name + ": socket monitor " + ep + ": " + e.what());
    }
  }
  h->thread_ = std::thread([p = h.get()] { p->Loop(); });
  return h;
}

ZapHandler::~ZapHandler() {
  exit_ = true;
  if (stop_fd_ >= 0) {
    const std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  monitors_.clear();
  socket_.reset();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void ZapHandler::OnMonitorEvent(std::size_t i) {
  std::vector<zmq::message_t> f;
  if (!zmq::recv_multipart(*monitors_[i], std::back_inserter(f), zmq::recv_flags::dontwait)) return;
  if (f.empty() || f[0].size() < 6) return;
  std::uint16_t event = 0;
  std::uint32_t value = 0;
  std::memcpy(&event, f[0].data(), 2);
  std::memcpy(&value, static_cast<const char*>(f[0].data()) + 2, 4);
  ++failed_handshakes_;
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) return;  // the ZAP handler logged it
  char code[16];
  std::snprintf(code, sizeof(code), "0x%08x", value);
  LogWarning(monitor_names_[i] + ": refused a client at the handshake (" +
             (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                  ? "protocol error " + std::string(code) + ", e.g. a client without CURVE"
                  : "no detail, e.g. a wrong server key") +
             ")");
}

void ZapHandler::Loop() {
  ::pthread_setname_np(::pthread_self(), "immuned-zap");
  zmq::socket_t& sock = *socket_;
  // [0] ZAP requests, [1] the stop eventfd, [2..] the handshake monitors.
  std::vector<zmq::pollitem_t> items = {{sock.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, stop_fd_, ZMQ_POLLIN, 0}};
  for (const auto& m : monitors_) items.push_back({m->handle(), 0, ZMQ_POLLIN, 0});
  while (!exit_) {
    try {
      zmq::poll(items, std::chrono::milliseconds(-1));  // until a request, a monitor event, or stop
      for (std::size_t i = 2; i < items.size(); ++i)
        if (items[i].revents & ZMQ_POLLIN) OnMonitorEvent(i - 2);
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> f;
      if (!zmq::recv_multipart(sock, std::back_inserter(f), zmq::recv_flags::dontwait)) continue;
      // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
      std::string version = f.size() > 0 ? f[0].to_string() : "";
      std::string request_id = f.size() > 1 ? f[1].to_string() : "";
      std::string domain = f.size() > 2 ? f[2].to_string() : "";
      std::string address = f.size() > 3 ? f[3].to_string() : "";
      std::string mechanism = f.size() > 5 ? f[5].to_string() : "";
      std::string key;
      if (mechanism == "CURVE" && f.size() > 6 && f[6].size() == 32) {
        char z85[kZ85KeyLength + 1] = {};
        zmq_z85_encode(z85, static_cast<const std::uint8_t*>(f[6].data()), 32);
        key = z85;
      }
      bool ok = false;
      std::string why = "unknown client key";
      if (version != "1.0") {
        why = "bad ZAP version";
      } else if (mechanism != "CURVE") {
        why = "mechanism " + mechanism + " (CURVE required)";
      } else if (auto it = allow_.find(domain); it == allow_.end()) {
        why = "no allow-list for domain '" + domain + "'";
      } else {
        ok = !key.empty() && it->second.count(key) > 0;
      }
      const std::string user = ok ? key : "";
      std::vector<zmq::const_buffer> reply = {zmq::buffer(std::string_view("1.0")),
                                              zmq::buffer(request_id),
                                              zmq::buffer(std::string_view(ok ? "200" : "400")),
                                              zmq::buffer(std::string_view(ok ? "OK" : "refused")),
                                              zmq::buffer(user),
                                              zmq::buffer(std::string_view())};
      zmq::send_multipart(sock, reply);
      if (ok) {
        ++admitted_;
        Log(LogLevel::kDebug, "CURVE: " + domain + " client " + key + " from " + address + " admitted");
      } else {
        ++refused_;
        LogWarning("CURVE: refused " + domain + " client " + (key.empty() ? "(no key)" : key) + " from " +
                   address + ": " + why);
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      if (e.num() == ETERM) return;
      LogError(std::string("ZAP handler: ") + e.what());
      return;
    }
  }
}

Status MakeCurveServer(zmq::socket_t& socket, const CurveKeyPair& keys, const std::string& domain,
                       std::string_view what) {
  try {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, keys.secret_z85);
    socket.set(zmq::sockopt::zap_domain, domain);
  } catch (const zmq::error_t& e) {
    return Internal(std::string(what) + ": CURVE server options: " + e.what());
  }
  return OkStatus();
}

}  // namespace immune::tsbd
