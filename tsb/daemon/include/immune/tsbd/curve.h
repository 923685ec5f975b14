// ZeroMQ CURVE for immuned's tcp:// agent and control endpoints
// (docs/tsb-daemon.md, "CURVE").
//
// The daemon is the CURVE server: its long-term key pair is a Z85 secret
// key file (40 characters, mode 0600; the public key is derived from it)
// plus a public key file next to it. Clients are admitted by a ZAP handler
// (RFC 27) bound to inproc://zeromq.zap.01 in the daemon's ZeroMQ context:
// for each handshake it answers 200 when the client's public key is on the
// allow-list of the socket's ZAP domain ("agent" or "control") and 400
// otherwise, and logs the refusal. A client without CURVE (NULL mechanism)
// fails the handshake before ZAP is asked. In both cases the connection is
// closed and no message reaches the daemon.
//
// Thread safety: the free functions are pure or touch only their files.
// A ZapHandler answers on its own thread; construct and destroy it from one.
#ifndef IMMUNE_TSBD_CURVE_H_
#define IMMUNE_TSBD_CURVE_H_

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "immune/core/error.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace immune::tsbd {

inline constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

// Z85 text (40 characters) of 32-byte keys.
struct CurveKeyPair {
  std::string public_z85;
  std::string secret_z85;
};

// True when libzmq was built with CURVE (zmq_has("curve")).
bool CurveAvailable();

// Reads the Z85 secret key in `secret_path` and derives the public key.
// When the file does not exist and `create` is set, generates a key pair
// (zmq_curve_keypair) and writes it: `secret_path` mode 0600 and
// `public_path` mode 0644 (Z85 and a newline each). An existing secret key
// file readable by group or others is refused. Errors name the file.
Result<CurveKeyPair> LoadOrCreateServerKeys(const std::string& secret_path, const std::string& public_path,
                                            bool create);

// Reads a Z85 public key (40 characters, surrounding whitespace ignored).
Result<std::string> ReadPublicKeyFile(const std::string& path);

// The allow-list from `paths`: each a public key file, or a directory whose
// regular files ending in ".pub" are public key files. Errors name the file
// and `what` (the configuration key).
Result<std::set<std::string>> LoadClientKeys(const std::vector<std::string>& paths, std::string_view what);

// The ZAP handler. `allow` maps a ZAP domain to its Z85 client keys; a
// request for another domain or mechanism is refused (400).
class ZapHandler {
 public:
  // A CURVE server socket whose failed handshakes are logged (a client
  // without CURVE, or with a wrong server key, never reaches ZAP).
  struct Monitored {
    zmq::socket_t* socket;  // borrowed; not yet bound
    std::string name;       // "agent endpoint tcp://..."
  };
  // Binds kZapEndpoint in `context` (borrowed; must outlive the handler),
  // attaches a socket monitor to each of `monitored` and starts answering.
  // Start before the CURVE sockets are bound.
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t& context,
                                                   std::map<std::string, std::set<std::string>> allow,
                                                   const std::vector<Monitored>& monitored = {});
  ~ZapHandler();  // stops and joins the thread, closes the socket

  std::uint64_t refused() const { return refused_; }
  std::uint64_t admitted() const { return admitted_; }
  std::uint64_t failed_handshakes() const { return failed_handshakes_; }

 private:
  ZapHandler() = default;
  void Loop();

  void OnMonitorEvent(std::size_t i);

  std::unique_ptr<zmq::socket_t> socket_;
  std::vector<std::unique_ptr<zmq::socket_t>> monitors_;  // PAIR, one per monitored socket
  std::vector<std::string> monitor_names_;
  std::map<std::string, std::set<std::string>> allow_;
  std::atomic<bool> exit_{false};
  int stop_fd_ = -1;  // eventfd written by the destructor: the loop blocks until a request or it
  std::atomic<std::uint64_t> refused_{0}, admitted_{0}, failed_handshakes_{0};
  std::thread thread_;
};

// Makes `socket` a CURVE server with `keys` in ZAP domain `domain`.
// Errors name `what` (the endpoint).
Status MakeCurveServer(zmq::socket_t& socket, const CurveKeyPair& keys, const std::string& domain,
                       std::string_view what);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_CURVE_H_
