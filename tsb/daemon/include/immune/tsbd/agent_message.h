// The out-of-process agent protocol, version 1 (docs/tsb-daemon.md has the
// schema and the state machine): one JSON object per ZeroMQ message, a
// DEALER (or REQ) client talking to the daemon's ROUTER socket.
//
//   client -> daemon                          daemon -> client
//   {"v":1,"type":"hello","id":I,"agent":N}   {"v":1,"type":"welcome","id":I,"agent":N}
//   {"v":1,"type":"measure","id":I,           {"v":1,"type":"decisions","id":I,
//    "measurements":[M,...]}                   "decisions":[{"seq":S,"decision":D,"rule":R},...]}
//   {"v":1,"type":"bye","id":I}               {"v":1,"type":"bye","id":I}
//   anything wrong                            {"v":1,"type":"error","id":I|null,"code":C,
//                                              "field":F,"message":T}
// M = {"path":str, "file_digest":hex, "file_hash_alg":"sha256"?, "container_id":str?,
//      "image":str?, "pid":uint?, "exe":str?, "template":"ima-ng"|"ima-sig"|"immune-ct"?,
//      "signature":hex?}
// "decisions" is sent only after every measurement of the message is
// journaled (durable); its order is the order of "measurements".
//
// Thread safety: pure functions. Decoding is for untrusted bytes: it never
// throws or asserts, and an error names the offending member.
#ifndef IMMUNE_TSBD_AGENT_MESSAGE_H_
#define IMMUNE_TSBD_AGENT_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "immune/core/error.h"
#include "immune/tsb/measurement_entry.h"
#include "immune/tsbd/agent.h"

namespace immune::tsbd {

inline constexpr int kAgentProtocolVersion = 1;
inline constexpr std::size_t kMaxAgentMessageBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxMeasurementsPerMessage = 4096;

enum class AgentMessageType { kHello, kMeasure, kBye };

struct AgentRequest {
  AgentMessageType type = AgentMessageType::kHello;
  std::string id;     // echoed in the reply (any JSON string or number, as text)
  std::string agent;  // hello
  std::vector<tsb::MeasurementEntry> measurements;  // measure
};

// A refused message: `field` is the JSON path of the offending member
// ("measurements[3].file_digest"), "" for the message as a whole.
struct MessageError {
  std::string id;  // the request's id when it could be read
  ErrorCode code = ErrorCode::kInvalidArgument;
  std::string field;
  std::string message;
};

using DecodedRequest = std::variant<AgentRequest, MessageError>;

DecodedRequest DecodeAgentRequest(std::string_view bytes);

// Replies (daemon side).
std::string EncodeWelcome(std::string_view id, std::string_view agent);
std::string EncodeDecisions(std::string_view id, const std::vector<Verdict>& verdicts);
std::string EncodeBye(std::string_view id);
std::string EncodeError(const MessageError& e);

// Client side (C++ agents, tests): requests and parsed replies.
std::string EncodeHello(std::string_view id, std::string_view agent);
std::string EncodeMeasure(std::string_view id, const std::vector<tsb::MeasurementEntry>& entries);
std::string EncodeByeRequest(std::string_view id);

struct AgentReply {
  std::string type;  // welcome, decisions, bye, error
  std::string id;
  std::vector<Verdict> decisions;
  std::string error_code, error_field, error_message;
};
Result<AgentReply> DecodeAgentReply(std::string_view bytes);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_AGENT_MESSAGE_H_
