// The agent endpoint's thread: a ROUTER socket speaking agent_message.h.
// Per connection (ZeroMQ routing id) a session walks the state machine of
// docs/tsb-daemon.md: NEW --hello--> READY --measure--> READY ... --bye--> NEW.
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "immune/core/log.h"
#include "immune/tsbd/agent_message.h"
#include "immune/tsbd/daemon.h"

namespace immune::tsbd {

namespace {

// A remote session silent this long no longer holds its agent name against
// a new hello (ZeroMQ does not tell a ROUTER about disconnects).
constexpr auto kStaleSession = std::chrono::seconds(60);

struct Session {
  std::string agent;
  std::chrono::steady_clock::time_point last_seen;
};

void SendReply(zmq::socket_t& sock, const std::vector<std::string>& envelope, const std::string& body) {
  try {
    for (const auto& f : envelope)
      sock.send(zmq::buffer(f), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    sock.send(zmq::buffer(body), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    LogWarning(std::string("agent endpoint: reply not sent: ") + e.what());
  }
}

}  // namespace

void Daemon::AgentLoop(zmq::socket_t* socket) {
  zmq::socket_t& sock = *socket;
  std::map<std::string, Session> sessions;   // by routing id
  std::map<std::string, std::string> owner;  // agent name -> routing id
  ::pthread_setname_np(::pthread_self(), "immuned-agent");
  zmq::pollitem_t items[] = {{sock.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd_, ZMQ_POLLIN, 0}};

  auto flush_acks = [&] {
    std::uint64_t n = 0;
    (void)!::read(wake_fd_, &n, sizeof(n));
    std::vector<std::pair<std::vector<std::string>, std::string>> acks;
    {
      std::lock_guard lock(acks_mu_);
      acks.swap(acks_);
    }
    for (const auto& [env, body] : acks) SendReply(sock, env, body);
  };

  for (;;) {
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(-1));  // until a request, an ack, or Stop
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      LogError(std::string("agent endpoint: poll: ") + e.what());
      return;
    }
    if (items[1].revents & ZMQ_POLLIN) flush_acks();
    if (endpoints_exit_) {
      flush_acks();
      return;
    }
    if (!(items[0].revents & ZMQ_POLLIN)) continue;

    // Drain what is readable now, without blocking.
    for (int budget = 0; budget < 256; ++budget) {
      std::vector<zmq::message_t> frames;
      zmq::recv_result_t got;
      try {
        got = zmq::recv_multipart(sock, std::back_inserter(frames), zmq::recv_flags::dontwait);
      } catch (const zmq::error_t& e) {
        LogWarning(std::string("agent endpoint: receive: ") + e.what());
        break;
      }
      if (!got) break;
      // [routing id, (empty delimiter from REQ), body]; anything else is dropped.
      if (frames.size() < 2 || frames.size() > 3 || (frames.size() == 3 && frames[1].size() != 0)) continue;
      std::vector<std::string> envelope;
      for (std::size_t i = 0; i + 1 < frames.size(); ++i) envelope.push_back(frames[i].to_string());
      const std::string& rid = envelope[0];
      const std::string_view body(static_cast<const char*>(frames.back().data()), frames.back().size());

      DecodedRequest decoded = DecodeAgentRequest(body);
      if (auto* err = std::get_if<MessageError>(&decoded)) {
        SendReply(sock, envelope, EncodeError(*err));
        continue;
      }
      AgentRequest& req = std::get<AgentRequest>(decoded);
      const auto now = std::chrono::steady_clock::now();
      auto sit = sessions.find(rid);
      if (sit != sessions.end()) sit->second.last_seen = now;

      if (req.type == AgentMessageType::kHello) {
        if (sit != sessions.end()) {
          if (sit->second.agent == req.agent) {
            SendReply(sock, envelope, EncodeWelcome(req.id, req.agent));
          } else {
            SendReply(sock, envelope,
                      EncodeError({req.id, ErrorCode::kInvalidArgument, "agent",
                                   "this connection is already agent '" + sit->second.agent + "'"}));
          }
          continue;
        }
        // A stale remote session gives its name up.
        if (auto o = owner.find(req.agent); o != owner.end()) {
          auto os = sessions.find(o->second);
          if (os != sessions.end() && now - os->second.last_seen > kStaleSession) {
            registry_.Unregister(req.agent);
            sessions.erase(os);
            owner.erase(o);
          }
        }
        Status reg = registry_.Register(req.agent, AgentRegistry::Kind::kRemote);
        if (!reg.ok()) {
          SendReply(sock, envelope,
                    EncodeError({req.id, ErrorCode::kInvalidArgument, "agent", reg.error().message()}));
          continue;
        }
        sessions[rid] = Session{req.agent, now};
        owner[req.agent] = rid;
        SendReply(sock, envelope, EncodeWelcome(req.id, req.agent));
        continue;
      }
      if (sit == sessions.end()) {
        SendReply(sock, envelope,
                  EncodeError({req.id, ErrorCode::kInvalidArgument, "type",
                               "'" + std::string(req.type == AgentMessageType::kBye ? "bye" : "measure") +
                                   "' before 'hello': say hello with an agent name first"}));
        continue;
      }
      if (req.type == AgentMessageType::kBye) {
        registry_.Unregister(sit->second.agent);
        owner.erase(sit->second.agent);
        sessions.erase(sit);
        SendReply(sock, envelope, EncodeBye(req.id));
        continue;
      }
      // measure
      Submission s;
      s.agent = sit->second.agent;
      s.entries = std::move(req.measurements);
      s.done = [this, envelope, id = req.id](Result<std::vector<Verdict>> r) {
        if (r.ok()) {
          PushAck(envelope, EncodeDecisions(id, *r));
        } else {
          PushAck(envelope, EncodeError({id, r.error().code(), "", r.error().message()}));
        }
      };
      Status q = writer_->Enqueue(std::move(s), /*wait=*/false);
      if (!q.ok())
        SendReply(sock, envelope, EncodeError({req.id, q.error().code(), "", q.error().message()}));
    }
  }
}

}  // namespace immune::tsbd
