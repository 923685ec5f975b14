// immune-tsb-control.so: the ZeroMQ half of control_client.h.
#include <zmq.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "immune/core/module.h"
#include "immune/tsbd/control_client.h"

namespace immune::tsbd {
namespace {

Result<std::string> Request(std::string_view endpoint, std::string_view body, int timeout_ms) {
  const std::string ep(endpoint);
  try {
    zmq::context_t ctx(1);
    zmq::socket_t sock(ctx, zmq::socket_type::req);
    sock.set(zmq::sockopt::linger, 0);
    sock.set(zmq::sockopt::rcvtimeo, timeout_ms);
    sock.set(zmq::sockopt::sndtimeo, timeout_ms);
    sock.connect(ep);
    if (!sock.send(zmq::buffer(body.data(), body.size()), zmq::send_flags::none)) {
      return Unavailable("control endpoint " + ep + ": send timed out");
    }
    zmq::message_t reply;
    if (!sock.recv(reply, zmq::recv_flags::none)) {
      return Unavailable("control endpoint " + ep + ": no reply within " + std::to_string(timeout_ms) +
                         " ms");
    }
    return reply.to_string();
  } catch (const zmq::error_t& e) {
    return Unavailable("control endpoint " + ep + ": " + e.what());
  }
}

Status Subscribe(std::string_view endpoint, std::string_view topic, int timeout_ms,
                 const std::function<Status()>& on_connected,
                 const std::function<bool(std::string_view, std::string_view)>& on_event) {
  const std::string ep(endpoint);
  try {
    zmq::context_t ctx(1);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::subscribe, std::string(topic));
    // The connection, seen by a socket monitor: ZeroMQ connects in the
    // background and would otherwise say nothing about an endpoint nobody
    // listens on.
    const std::string monitor_ep = "inproc://immune-events-monitor";
    if (zmq_socket_monitor(sub.handle(), monitor_ep.c_str(), ZMQ_EVENT_CONNECTED) != 0)
      return Internal("events endpoint " + ep + ": socket monitor: " + zmq_strerror(zmq_errno()));
    zmq::socket_t monitor(ctx, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.set(zmq::sockopt::rcvtimeo, timeout_ms);
    monitor.connect(monitor_ep);
    sub.connect(ep);
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(monitor, std::back_inserter(frames)))
      return Unavailable("events endpoint " + ep + ": not connected within " + std::to_string(timeout_ms) +
                         " ms");
    zmq_socket_monitor(sub.handle(), nullptr, 0);
    IMMUNE_RETURN_IF_ERROR(on_connected());
    for (;;) {
      frames.clear();
      if (!zmq::recv_multipart(sub, std::back_inserter(frames))) continue;
      if (frames.size() != 2) continue;  // not an event (docs/tsb-daemon.md): skipped
      if (!on_event(frames[0].to_string_view(), frames[1].to_string_view())) return OkStatus();
    }
  } catch (const zmq::error_t& e) {
    return Unavailable("events endpoint " + ep + ": " + e.what());
  }
}

}  // namespace
}  // namespace immune::tsbd

extern "C" __attribute__((visibility("default")))
const immune::tsbd::ControlModuleV1 immune_tsb_control_v1 = {immune::tsbd::kControlModuleAbi,
                                                             immune::ModuleBuildId(), &immune::tsbd::Request,
                                                             &immune::tsbd::Subscribe};
