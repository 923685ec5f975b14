// immune-tsb-control.so: the ZeroMQ half of control_client.h.
#include <string>
#include <zmq.hpp>

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

}  // namespace
}  // namespace immune::tsbd

extern "C" __attribute__((visibility("default")))
const immune::tsbd::ControlModuleV1 immune_tsb_control_v1 = {immune::tsbd::kControlModuleAbi,
                                                             immune::ModuleBuildId(), &immune::tsbd::Request};
