// The TSB's measurement log: container-aware entries, split into partitions
// with container PCRs (cpcr.h), anchored in one TPM PCR, journaled in SQLite
// so that a crash loses nothing.
//
// Append order: a batch of entries (Append: a batch of one) is committed to
// the journal in one transaction (WAL, synchronous=FULL) BEFORE its one
// TPM extend (cpcr.h: x_e, or the batch hash). So after a crash the journal
// holds every extended entry, plus at most the last committed batch, not
// extended.
//
// Recovery rule (Open), for the current epoch with journaled batches
// B_1..B_k, start value R_0 and replay values R_i = Extend(R_{i-1}, X_{B_i}):
//   1. P = the TPM PCR (every bank). If P == R_k: nothing to do.
//   2. Else if k > 0 and P == R_{k-1}: the crash fell between the commit of
//      the last batch and its extend: B_k is extended now (it was journaled,
//      so it is part of the log). One TPM command extends a whole batch,
//      so no batch is ever half-extended.
//   3. Else the PCR cannot be explained by this journal (TPM reset without a
//      reboot, another writer of the PCR, a rewritten journal): an alarm is
//      raised (LogError line, on_alarm callback, alarms()) and a new epoch
//      starts from P, recorded in the journal with the reason. Old epochs
//      stay in the journal and can still be exported, but their final value
//      is no longer in the TPM: no quote can vouch for them.
// Before that, every journal row is checked against itself: its template
// data is rebuilt from its fields and its x_e recomputed from the partition
// salts and the cPCR chain; a row that does not match, a gap in sequence
// numbers or an unknown partition fail Open with kCorruption naming the row.
//
// Thread safety: all methods may be called from any thread; an internal
// mutex serialises them. The Tpm passed to Open is borrowed (it must outlive
// the log) and must not be used by others while a method runs.
#ifndef IMMUNE_TSB_MEASUREMENT_LOG_H_
#define IMMUNE_TSB_MEASUREMENT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"
#include "immune/tpm/tpm.h"
#include "immune/tsb/cpcr.h"
#include "immune/tsb/measurement_entry.h"

namespace immune::tsb {

// PCR 13: not used by firmware (0-7), GRUB (8, 9) or IMA (10); not
// extended at runtime by systemd (11 pcrphase, 15 cryptsetup/pcrfs); only
// measured before the OS by systemd-stub (sysext images), so its value at
// the TSB's start is fixed per boot and recorded as the epoch's start;
// rarely part of sealing policies (unlike 7 and 14); not resettable
// (unlike 16 and 23). See docs/tsb-measurement-log.md.
inline constexpr std::uint32_t kDefaultTsbPcr = 13;

struct MeasurementLogOptions {
  std::string journal_path;
  std::uint32_t pcr = kDefaultTsbPcr;
  std::vector<HashAlg> banks = {HashAlg::kSha1, HashAlg::kSha256};
  std::string writer = "immuned";
  // Called (under the log's lock: do not call back into the log) for every
  // alarm, in addition to a LogError line.
  std::function<void(const Error&)> on_alarm;
};

struct RecoveryReport {
  std::size_t rows = 0;          // journal rows checked
  std::size_t extended_now = 0;  // rule 2: journaled entries extended at open
  bool new_epoch = false;        // rule 3 (or a new journal)
  std::uint64_t epoch = 0;       // the current epoch after open
};

class MeasurementLog {
 public:
  // Opens (or creates) the journal and recovers as described above.
  static Result<std::unique_ptr<MeasurementLog>> Open(MeasurementLogOptions options, tpm::Tpm& tpm);
  ~MeasurementLog();

  // Appends one entry: assigns seq, epoch, pcr (and time when 0), journals
  // it, then extends the TPM. Returns the sequence number. A journal error
  // changes nothing; a TPM error leaves the entry journaled and pending: the
  // next Append (or Open) extends it first.
  Result<std::uint64_t> Append(MeasurementEntry entry);
  // The same for many entries in one journal transaction (one fsync), then
  // one TPM extend per entry. Returns the first sequence number.
  Result<std::uint64_t> AppendBatch(std::vector<MeasurementEntry> entries);

  // Entries of an epoch (default: the current one), in order.
  std::vector<MeasurementEntry> Entries(std::optional<std::uint64_t> epoch = std::nullopt) const;
  std::uint64_t current_epoch() const;
  std::size_t size() const;  // entries in all epochs
  // The PCR value the current epoch's journal replays to, per bank.
  BankDigests ExpectedPcr() const;
  std::vector<Error> alarms() const;
  const RecoveryReport& recovery() const { return recovery_; }
  std::uint32_t pcr() const { return options_.pcr; }
  const std::vector<HashAlg>& banks() const { return options_.banks; }

  // The view of one partition ("" = host) in an epoch (default: current).
  // kNotFound when the partition does not exist.
  Result<PartitionView> ExportPartitionView(std::string_view container_id,
                                            std::optional<std::uint64_t> epoch = std::nullopt) const;

  // Test hook: when set, appends are journaled but not extended, as if the
  // process died between commit and extend. Only the last such batch is
  // remembered as pending: after using it, destroy and reopen the log.
  void SetSkipExtendForTesting(bool skip);

 private:
  struct Impl;
  explicit MeasurementLog(MeasurementLogOptions options, tpm::Tpm& tpm);

  MeasurementLogOptions options_;
  tpm::Tpm& tpm_;
  RecoveryReport recovery_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_MEASUREMENT_LOG_H_
