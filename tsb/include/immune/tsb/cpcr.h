// Container PCRs (cPCRs) and per-container partition views of the log.
//
// The log of an epoch is one global sequence of entries; each entry belongs
// to one partition (a container, or the host with id ""). Per partition c
// and bank:
//   salt_c   32 random bytes, secret, created with the partition (journaled)
//   blind_c  = H(salt_c || container id)
//   cPCR_c   software register, zero at the start of an epoch;
//            cPCR_c <- H(cPCR_c || template hash of e) for each entry e of c
// and for the entry e at position p (0-based, in its epoch) of the sequence:
//   owner_e  = H("immune-cpcr-owner-v1" || blind_c || u64be(epoch) || u64be(p))
//   state_e  = H("immune-cpcr-state-v1" || blind_c || cPCR_c after e)
//   x_e      = H("immune-cpcr-bind-v1" || owner_e || state_e)
// and the TPM PCR is extended with x_e (one digest per bank). Entries
// appended together in one batch (one journal transaction) are extended
// with one TPM command: x_e itself for a batch of one entry, else
//   X_batch  = H("immune-cpcr-batch-v1" || x_e1 || ... || x_ek)
// (views carry batch numbers so the verifier groups the same way).
//
// A partition view for container A gives A's entries, salt_A and id, and
// for every other position only (owner_e, state_e): opaque values that a
// verifier cannot invert or confirm guesses against without the other
// partition's salt. The verifier recomputes x_e for A's entries, takes the
// given pairs for the others, replays from the epoch's start value and
// compares with the quoted PCR; an opaque item whose owner_e is A's own
// owner tag for that position is rejected, so A's entries cannot be hidden
// as "someone else's" (docs/tsb-measurement-log.md has the argument).
//
// Thread safety: values and pure functions; PartitionState is a value owned
// by one thread at a time.
#ifndef IMMUNE_TSB_CPCR_H_
#define IMMUNE_TSB_CPCR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"
#include "immune/tsb/measurement_entry.h"

namespace immune::tsb {

using BankDigests = std::map<HashAlg, Bytes>;

inline constexpr std::size_t kPartitionSaltSize = 32;

// kPartitionSaltSize bytes from OpenSSL RAND_bytes; kInternal if it fails.
Result<Bytes> NewPartitionSalt();

Result<Bytes> PartitionBlind(HashAlg bank, ByteSpan salt, std::string_view container_id);
// H(cpcr || template_hash).
Result<Bytes> CpcrExtend(HashAlg bank, ByteSpan cpcr, ByteSpan template_hash);
Result<Bytes> OwnerTag(HashAlg bank, ByteSpan blind, std::uint64_t epoch, std::uint64_t position);
Result<Bytes> StateTag(HashAlg bank, ByteSpan blind, ByteSpan cpcr_after);
Result<Bytes> BindingDigest(HashAlg bank, ByteSpan owner, ByteSpan state);

// What an entry contributes to the TPM PCR, per bank.
struct EntryBinding {
  BankDigests owner;  // owner_e
  BankDigests state;  // state_e
  BankDigests x;      // x_e, what is extended
};

// One partition's cPCRs (per bank) and blinds.
class PartitionState {
 public:
  static Result<PartitionState> Create(std::string container_id, Bytes salt, std::span<const HashAlg> banks);

  // Extends the cPCRs with the template hashes of one entry (template_hashes
  // must hold every bank) at `position` of `epoch`; returns its binding.
  Result<EntryBinding> Extend(const BankDigests& template_hashes, std::uint64_t epoch,
                              std::uint64_t position);
  // Back to zero cPCRs (a new epoch).
  void ResetCpcrs();

  const std::string& container_id() const { return container_id_; }
  const Bytes& salt() const { return salt_; }
  const BankDigests& cpcr() const { return cpcr_; }
  const BankDigests& blind() const { return blind_; }

 private:
  std::string container_id_;
  Bytes salt_;
  BankDigests blind_;
  BankDigests cpcr_;
};

// The digest one TPM extend carries for a batch (xs: x_e of each entry, in
// order, every bank present): xs[0] when there is one, else the batch hash.
Result<BankDigests> BatchExtendDigest(std::span<const HashAlg> banks, std::span<const BankDigests> xs);

// Template hashes of template data in every bank.
Result<BankDigests> TemplateHashes(std::span<const HashAlg> banks, ByteSpan template_data);

struct ViewItem {
  std::uint64_t position = 0;
  std::uint64_t batch = 0;                // items of one batch were extended together
  std::optional<MeasurementEntry> entry;  // set: the partition's own entry
  BankDigests owner;                      // other partitions' entries only
  BankDigests state;                      // other partitions' entries only
};

struct PartitionView {
  std::string writer;
  std::uint32_t pcr = 0;
  std::uint64_t epoch = 0;
  std::vector<HashAlg> banks;
  BankDigests start_pcr;  // the PCR value the epoch started from
  std::string container_id;
  Bytes salt;
  std::vector<ViewItem> items;  // every position of the epoch, in order
};

struct VerifiedPartition {
  std::vector<MeasurementEntry> entries;  // the partition's entries, in order
  BankDigests cpcr;                       // final cPCRs
  BankDigests replayed_pcr;               // = the quoted PCR
  std::uint64_t total_entries = 0;        // of all partitions
};

// Replays `view` and compares with `pcrs` (e.g. from a checked quote) at
// view.pcr in every bank of the view. kCorruption naming the first problem
// (position, bank). Untrusted input: nothing is asserted.
Result<VerifiedPartition> VerifyPartitionView(const PartitionView& view, const PcrValues& pcrs);

// JSON serialisation of views (the exchanged form). Parsing is for
// untrusted bytes: errors name the member.
std::string PartitionViewToJson(const PartitionView& view);
Result<PartitionView> PartitionViewFromJson(std::string_view json_text);

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_CPCR_H_
