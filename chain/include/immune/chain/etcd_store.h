// The etcd backend of BlockStore: an etcd cluster (3.4, Raft) orders the
// blocks of a fleet; it is not trusted. Readers verify everything (verify.h).
//
// Key layout under a prefix (default "/immune/chain"; docs/chain-format.md):
//   <prefix>/format            "immune-chain/1"
//   <prefix>/trust             TRUST.json text
//   <prefix>/head              height (u64 big-endian) | block hash (32 bytes)
//   <prefix>/blocks/<height>   the whole block (EncodeBlock); <height> is 20
//                              zero-padded decimal digits
// Append is one etcd transaction: it compares <prefix>/head (its value equals
// the expected head, or it is absent for block 0), <prefix>/blocks/<h>
// (create_revision == 0: the height is free) and <prefix>/format, and puts
// the block and the new head; otherwise it reports kConflict and stores
// nothing. A transaction whose answer is lost (a timeout, a member dying) is
// resolved on the next endpoint: when the head it finds is this very block,
// Append reports kAppended.
//
// Reads are linearizable (they need a quorum). When no endpoint can serve
// one (no quorum, or all members unreachable) and stale reads are allowed,
// the store switches for the rest of its life (until an append succeeds) to
// serializable reads from any member that answers: the member's committed,
// possibly older, state. Verification still checks every block; only a
// verifier with a pin (--pin) can tell an older head from a rolled-back one.
// Writes always need a quorum and fail with Unavailable naming the endpoints.
//
// Blocks are single etcd values, limited by the server's --max-request-bytes
// (1.5 MiB by default): a larger block is refused by etcd (InvalidArgument).
//
// Thread safety: one object per thread (BlockStore's rule).
#ifndef IMMUNE_CHAIN_ETCD_STORE_H_
#define IMMUNE_CHAIN_ETCD_STORE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "immune/chain/store.h"

namespace immune::chain {

inline constexpr std::string_view kStoreFormat = "immune-chain/1";

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379", ...
  std::string prefix = "/immune/chain";
  int timeout_ms = 5000;  // per request and endpoint
  bool allow_stale_reads = true;
  // Opening for `chain init`: a store without a format key is accepted.
  bool create = false;
};

// Parses "etcd:URL[,URL...][?prefix=/p&timeout_ms=N&stale_reads=0]" (the
// "etcd:" is optional here). InvalidArgument naming the bad part.
Result<EtcdOptions> ParseEtcdLocation(std::string_view location);

// Connects and checks <prefix>/format: NotFound when absent (unless
// options.create), InvalidArgument naming the format when it is another;
// Unavailable naming the endpoints when none answers.
Result<std::unique_ptr<BlockStore>> OpenEtcdStore(const EtcdOptions& options);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_ETCD_STORE_H_
