#include "immune/tsb/measurement_log.h"

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "immune/core/hex.h"
#include "immune/core/log.h"
#include "journal.h"

namespace immune::tsb {
namespace {

struct StoredEntry {
  MeasurementEntry entry;
  EntryBinding binding;
  std::uint64_t batch = 0;
};

struct EpochData {
  internal::EpochRecord record;
  std::vector<StoredEntry> entries;
  std::map<std::string, PartitionState> states;
  BankDigests replay;  // the replay value after the last entry
};

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Bytes ConcatX(const std::vector<HashAlg>& banks, const BankDigests& x) {
  Bytes out;
  for (HashAlg b : banks) out.insert(out.end(), x.at(b).begin(), x.at(b).end());
  return out;
}

std::string DescribePcr(const BankDigests& d) {
  std::string s;
  for (const auto& [b, v] : d) {
    if (!s.empty()) s += ' ';
    s += std::string(HashAlgName(b)) + ":" + ToHex(v);
  }
  return s;
}

}  // namespace

struct MeasurementLog::Impl {
  mutable std::mutex mu;
  std::unique_ptr<internal::Journal> journal;
  std::map<std::string, Bytes> salts;
  std::vector<EpochData> epochs;  // index == epoch number
  std::uint64_t next_seq = 0;
  std::uint64_t next_batch = 0;
  // The last batch of the current epoch when it is journaled but not yet
  // extended (a TPM error): its extend digest.
  std::optional<BankDigests> pending;
  std::vector<Error> alarms;
  bool skip_extend = false;
};

MeasurementLog::MeasurementLog(MeasurementLogOptions options, tpm::Tpm& tpm)
    : options_(std::move(options)), tpm_(tpm), impl_(std::make_unique<Impl>()) {}

MeasurementLog::~MeasurementLog() = default;

namespace {

Result<BankDigests> ReadTpmPcr(tpm::Tpm& tpm, std::uint32_t pcr, const std::vector<HashAlg>& banks) {
  PcrSelection sel;
  for (HashAlg b : banks) sel[b] = {pcr};
  IMMUNE_ASSIGN_OR_RETURN(PcrValues values, tpm.ReadPcrs(sel));
  BankDigests out;
  for (HashAlg b : banks) {
    auto bank = values.find(b);
    if (bank == values.end() || bank->second.find(pcr) == bank->second.end()) {
      return TpmError("TPM did not return PCR " + std::to_string(pcr) + " of bank " +
                      std::string(HashAlgName(b)));
    }
    out[b] = bank->second.at(pcr);
  }
  return out;
}

Status ExtendTpm(tpm::Tpm& tpm, std::uint32_t pcr, const std::vector<HashAlg>& banks, const BankDigests& x) {
  std::vector<std::pair<HashAlg, Bytes>> digests;
  digests.reserve(banks.size());
  for (HashAlg b : banks) digests.emplace_back(b, x.at(b));
  return tpm.Extend(pcr, digests);
}

Result<BankDigests> ReplayStep(const BankDigests& cur, const BankDigests& x) {
  BankDigests next;
  for (const auto& [b, v] : cur) {
    IMMUNE_ASSIGN_OR_RETURN(next[b], ExtendDigest(b, v, x.at(b)));
  }
  return next;
}

// The extend digest of entries[from, to) (one batch).
Result<BankDigests> BatchDigestOf(const std::vector<HashAlg>& banks, const std::vector<StoredEntry>& entries,
                                  std::size_t from, std::size_t to) {
  std::vector<BankDigests> xs;
  xs.reserve(to - from);
  for (std::size_t i = from; i < to; ++i) xs.push_back(entries[i].binding.x);
  return BatchExtendDigest(banks, xs);
}

// Replays entries[0, count) from `start`, one extend per batch; `count`
// must end a batch.
Result<BankDigests> ReplayBatches(const std::vector<HashAlg>& banks, const BankDigests& start,
                                  const std::vector<StoredEntry>& entries, std::size_t count) {
  BankDigests r = start;
  std::size_t from = 0;
  for (std::size_t i = 1; i <= count; ++i) {
    if (i == count || entries[i].batch != entries[from].batch) {
      IMMUNE_ASSIGN_OR_RETURN(BankDigests d, BatchDigestOf(banks, entries, from, i));
      IMMUNE_ASSIGN_OR_RETURN(r, ReplayStep(r, d));
      from = i;
    }
  }
  return r;
}

}  // namespace

Result<std::unique_ptr<MeasurementLog>> MeasurementLog::Open(MeasurementLogOptions options, tpm::Tpm& tpm) {
  if (options.banks.empty()) return InvalidArgument("measurement log: no PCR banks");
  if (options.pcr >= kNumPcrs)
    return InvalidArgument("measurement log: PCR " + std::to_string(options.pcr) + " is not 0-23");
  std::unique_ptr<MeasurementLog> log(new MeasurementLog(std::move(options), tpm));
  const MeasurementLogOptions& opt = log->options_;
  Impl& im = *log->impl_;
  const std::string jname = "journal " + opt.journal_path;

  bool created = false;
  IMMUNE_ASSIGN_OR_RETURN(
      im.journal, internal::Journal::Open(opt.journal_path, {opt.banks, opt.writer, opt.pcr}, created));
  IMMUNE_ASSIGN_OR_RETURN(im.salts, im.journal->LoadPartitions());
  IMMUNE_ASSIGN_OR_RETURN(std::vector<internal::EpochRecord> records, im.journal->LoadEpochs());
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (records[i].epoch != i)
      return Corruption(jname + ": epochs are not numbered 0.." + std::to_string(records.size() - 1));
    im.epochs.push_back(EpochData{records[i], {}, {}, records[i].start_pcr});
  }
  if (im.epochs.empty()) {
    IMMUNE_ASSIGN_OR_RETURN(BankDigests start, ReadTpmPcr(tpm, opt.pcr, opt.banks));
    internal::EpochRecord r{0, NowNs(), "new journal", start, 0};
    IMMUNE_RETURN_IF_ERROR(im.journal->AddEpoch(r));
    im.epochs.push_back(EpochData{r, {}, {}, start});
    log->recovery_.new_epoch = true;
  }

  // Check every row against itself and rebuild the in-memory log.
  std::uint64_t last_epoch = 0;
  Status rows = im.journal->ForEachRow([&](internal::JournalRow&& row) -> Status {
    MeasurementEntry& e = row.entry;
    const std::string where = jname + ": row seq=" + std::to_string(e.seq);
    if (e.seq != im.next_seq) {
      return Corruption(where + ": expected seq=" + std::to_string(im.next_seq) + " (rows missing)");
    }
    if (e.epoch >= im.epochs.size() || e.epoch < last_epoch)
      return Corruption(where + ": epoch " + std::to_string(e.epoch) + " is out of order or unknown");
    last_epoch = e.epoch;
    EpochData& ep = im.epochs[e.epoch];
    if (e.seq < ep.record.first_seq ||
        (e.epoch + 1 < im.epochs.size() && e.seq >= im.epochs[e.epoch + 1].record.first_seq)) {
      return Corruption(where + ": outside the sequence numbers of epoch " + std::to_string(e.epoch));
    }
    if (e.pcr != opt.pcr)
      return Corruption(where + ": PCR " + std::to_string(e.pcr) + ", the journal's is " +
                        std::to_string(opt.pcr));
    auto data = BuildTemplateData(e);
    if (!data.ok()) return Corruption(where + ": " + data.error().message());
    if (*data != row.template_data)
      return Corruption(where + ": template data does not match the row's fields (altered row)");
    auto salt = im.salts.find(e.container_id);
    if (salt == im.salts.end()) return Corruption(where + ": partition '" + e.container_id + "' has no salt");
    auto st = ep.states.find(e.container_id);
    if (st == ep.states.end()) {
      auto created_state = PartitionState::Create(e.container_id, salt->second, opt.banks);
      if (!created_state.ok()) return Corruption(where + ": " + created_state.error().message());
      st = ep.states.emplace(e.container_id, std::move(created_state).value()).first;
    }
    IMMUNE_ASSIGN_OR_RETURN(BankDigests th, TemplateHashes(opt.banks, *data));
    IMMUNE_ASSIGN_OR_RETURN(EntryBinding bind, st->second.Extend(th, e.epoch, ep.entries.size()));
    if (ConcatX(opt.banks, bind.x) != row.binding) {
      return Corruption(where +
                        ": recorded binding digest does not match the recomputed one (altered row or salt)");
    }
    if (!ep.entries.empty() && row.batch < ep.entries.back().batch) {
      return Corruption(where + ": batch " + std::to_string(row.batch) + " goes backwards");
    }
    ep.entries.push_back(StoredEntry{std::move(e), std::move(bind), row.batch});
    im.next_batch = std::max(im.next_batch, row.batch + 1);
    ++im.next_seq;
    ++log->recovery_.rows;
    return OkStatus();
  });
  IMMUNE_RETURN_IF_ERROR(rows);

  for (EpochData& ep : im.epochs) {
    IMMUNE_ASSIGN_OR_RETURN(ep.replay,
                            ReplayBatches(opt.banks, ep.record.start_pcr, ep.entries, ep.entries.size()));
  }

  // Recovery of the current epoch against the TPM.
  EpochData& cur = im.epochs.back();
  IMMUNE_ASSIGN_OR_RETURN(BankDigests tpm_pcr, ReadTpmPcr(tpm, opt.pcr, opt.banks));
  if (tpm_pcr != cur.replay) {
    const std::size_t n = cur.entries.size();
    std::size_t last_batch = 0;
    if (n > 0) {
      const std::uint64_t b = cur.entries.back().batch;
      for (std::size_t i = n; i > 0 && cur.entries[i - 1].batch == b; --i) ++last_batch;
    }
    bool match = false;
    if (n > 0) {
      IMMUNE_ASSIGN_OR_RETURN(BankDigests before,
                              ReplayBatches(opt.banks, cur.record.start_pcr, cur.entries, n - last_batch));
      match = before == tpm_pcr;
    }
    if (match) {
      IMMUNE_ASSIGN_OR_RETURN(BankDigests d, BatchDigestOf(opt.banks, cur.entries, n - last_batch, n));
      IMMUNE_RETURN_IF_ERROR(ExtendTpm(tpm, opt.pcr, opt.banks, d));
      log->recovery_.extended_now = last_batch;
      const std::size_t m = n - last_batch;
      LogInfo("measurement log: " + std::to_string(n - m) +
              " journaled entries were not extended before a crash; extended them now (" + jname + ")");
    } else {
      Error alarm =
          Corruption("ALARM: " + jname + ", epoch " + std::to_string(cur.record.epoch) + ": PCR " +
                     std::to_string(opt.pcr) + " is " + DescribePcr(tpm_pcr) +
                     " but the journal replays to " + DescribePcr(cur.replay) +
                     " (TPM reset without reboot, another writer of the PCR, or an altered journal); "
                     "starting epoch " +
                     std::to_string(cur.record.epoch + 1));
      LogError(alarm.message());
      if (opt.on_alarm) opt.on_alarm(alarm);
      im.alarms.push_back(alarm);
      internal::EpochRecord rec{cur.record.epoch + 1, NowNs(), alarm.message(), tpm_pcr, im.next_seq};
      IMMUNE_RETURN_IF_ERROR(im.journal->AddEpoch(rec));
      im.epochs.push_back(EpochData{rec, {}, {}, tpm_pcr});
      log->recovery_.new_epoch = true;
    }
  }
  log->recovery_.epoch = im.epochs.back().record.epoch;
  return log;
}

Result<std::uint64_t> MeasurementLog::Append(MeasurementEntry entry) {
  std::vector<MeasurementEntry> v;
  v.push_back(std::move(entry));
  return AppendBatch(std::move(v));
}

Result<std::uint64_t> MeasurementLog::AppendBatch(std::vector<MeasurementEntry> entries) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& im = *impl_;
  EpochData& ep = im.epochs.back();
  const auto& banks = options_.banks;
  // A batch journaled earlier whose extend failed goes first.
  if (!im.skip_extend && im.pending) {
    IMMUNE_RETURN_IF_ERROR(ExtendTpm(tpm_, options_.pcr, banks, *im.pending));
    im.pending.reset();
  }
  if (entries.empty()) return im.next_seq;

  // Build everything on scratch partition states; install only after commit.
  std::map<std::string, PartitionState> scratch;
  std::vector<std::pair<std::string, Bytes>> new_partitions;
  std::vector<internal::JournalRow> rows;
  std::vector<EntryBinding> bindings;
  rows.reserve(entries.size());
  const std::uint64_t first_seq = im.next_seq;
  const std::uint64_t batch = im.next_batch;
  const std::int64_t now = NowNs();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    MeasurementEntry& e = entries[i];
    e.seq = first_seq + i;
    e.epoch = ep.record.epoch;
    e.pcr = options_.pcr;
    if (e.time_ns == 0) e.time_ns = now;
    auto data = BuildTemplateData(e);
    if (!data.ok())
      return data.error().WithContext("measurement log: entry " + std::to_string(i) + " of the batch");
    auto st = scratch.find(e.container_id);
    if (st == scratch.end()) {
      auto existing = ep.states.find(e.container_id);
      if (existing != ep.states.end()) {
        st = scratch.emplace(e.container_id, existing->second).first;
      } else {
        Bytes salt;
        if (auto s = im.salts.find(e.container_id); s != im.salts.end()) {
          salt = s->second;
        } else {
          IMMUNE_ASSIGN_OR_RETURN(salt, NewPartitionSalt());
          new_partitions.emplace_back(e.container_id, salt);
        }
        IMMUNE_ASSIGN_OR_RETURN(PartitionState ps,
                                PartitionState::Create(e.container_id, std::move(salt), banks));
        st = scratch.emplace(e.container_id, std::move(ps)).first;
      }
    }
    IMMUNE_ASSIGN_OR_RETURN(BankDigests th, TemplateHashes(banks, *data));
    IMMUNE_ASSIGN_OR_RETURN(EntryBinding bind, st->second.Extend(th, e.epoch, ep.entries.size() + i));
    internal::JournalRow row;
    row.binding = ConcatX(banks, bind.x);
    row.template_data = std::move(data).value();
    row.batch = batch;
    row.entry = e;
    rows.push_back(std::move(row));
    bindings.push_back(std::move(bind));
  }
  IMMUNE_RETURN_IF_ERROR(im.journal->Commit(new_partitions, rows));

  // Committed: the entries are part of the log from here on.
  for (auto& [id, salt] : new_partitions) im.salts[id] = salt;
  for (auto& [id, st] : scratch) ep.states.insert_or_assign(id, std::move(st));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ep.entries.push_back(StoredEntry{std::move(rows[i].entry), std::move(bindings[i]), batch});
  }
  im.next_seq += rows.size();
  im.next_batch = batch + 1;
  auto digest = BatchDigestOf(banks, ep.entries, ep.entries.size() - rows.size(), ep.entries.size());
  if (!digest.ok()) return digest.error();
  auto next = ReplayStep(ep.replay, *digest);
  if (!next.ok()) return next.error();
  ep.replay = std::move(next).value();
  im.pending = std::move(digest).value();
  if (im.skip_extend) return first_seq;
  auto st = ExtendTpm(tpm_, options_.pcr, banks, *im.pending);
  if (!st.ok()) {
    return st.error().WithContext("measurement log: seq " + std::to_string(first_seq) + ".." +
                                  std::to_string(im.next_seq - 1) +
                                  " are journaled but not extended (retried on the next append or open)");
  }
  im.pending.reset();
  return first_seq;
}

std::vector<MeasurementEntry> MeasurementLog::Entries(std::optional<std::uint64_t> epoch) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::uint64_t e = epoch.value_or(impl_->epochs.back().record.epoch);
  std::vector<MeasurementEntry> out;
  if (e >= impl_->epochs.size()) return out;
  out.reserve(impl_->epochs[e].entries.size());
  for (const StoredEntry& s : impl_->epochs[e].entries) out.push_back(s.entry);
  return out;
}

std::uint64_t MeasurementLog::current_epoch() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->epochs.back().record.epoch;
}

std::size_t MeasurementLog::size() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->next_seq;
}

BankDigests MeasurementLog::ExpectedPcr() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->epochs.back().replay;
}

std::vector<Error> MeasurementLog::alarms() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->alarms;
}

void MeasurementLog::SetSkipExtendForTesting(bool skip) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->skip_extend = skip;
}

Result<PartitionView> MeasurementLog::ExportPartitionView(std::string_view container_id,
                                                          std::optional<std::uint64_t> epoch) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::uint64_t e = epoch.value_or(impl_->epochs.back().record.epoch);
  if (e >= impl_->epochs.size()) return NotFound("measurement log has no epoch " + std::to_string(e));
  auto salt = impl_->salts.find(std::string(container_id));
  if (salt == impl_->salts.end())
    return NotFound("measurement log has no partition '" + std::string(container_id) + "'");
  const EpochData& ep = impl_->epochs[e];
  PartitionView v;
  v.writer = options_.writer;
  v.pcr = options_.pcr;
  v.epoch = e;
  v.banks = options_.banks;
  v.start_pcr = ep.record.start_pcr;
  v.container_id = std::string(container_id);
  v.salt = salt->second;
  v.items.reserve(ep.entries.size());
  for (std::size_t i = 0; i < ep.entries.size(); ++i) {
    const StoredEntry& s = ep.entries[i];
    ViewItem item;
    item.position = i;
    item.batch = s.batch;
    if (s.entry.container_id == container_id) {
      item.entry = s.entry;
    } else {
      item.owner = s.binding.owner;
      item.state = s.binding.state;
    }
    v.items.push_back(std::move(item));
  }
  return v;
}

}  // namespace immune::tsb
