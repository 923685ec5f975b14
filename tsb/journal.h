// Internal to immune_tsb_log: the SQLite journal of the measurement log.
//
// One SQLite database in WAL mode with synchronous=FULL: a committed batch
// of entries is on disk before the caller extends the TPM. Tables:
//   meta(key, value)          format_version, banks, writer, pcr
//   epochs(epoch, started_ns, reason, start_pcr, first_seq)
//   partitions(container_id, salt, created_ns)
//   entries(seq, epoch, batch, time_ns, pcr, template, container_id, image,
//           pid, exe, path, file_alg, file_digest, signature, decision,
//           rule, template_data, binding)
// `binding` is x_e of every bank concatenated in bank order (what was, or
// is to be, extended). SQLiteCpp exceptions are caught here and returned as
// Errors naming the journal file and the operation.
//
// Thread safety: none; MeasurementLog serialises access.
#ifndef IMMUNE_TSB_JOURNAL_H_
#define IMMUNE_TSB_JOURNAL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/tsb/cpcr.h"
#include "immune/tsb/measurement_entry.h"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace immune::tsb::internal {

inline constexpr int kJournalFormatVersion = 1;

struct JournalMeta {
  std::vector<HashAlg> banks;
  std::string writer;
  std::uint32_t pcr = 0;
};

struct EpochRecord {
  std::uint64_t epoch = 0;
  std::int64_t started_ns = 0;
  std::string reason;
  BankDigests start_pcr;
  std::uint64_t first_seq = 0;
};

struct JournalRow {
  MeasurementEntry entry;
  std::uint64_t batch = 0;
  Bytes template_data;
  Bytes binding;  // x_e per bank, concatenated in bank order
};

class Journal {
 public:
  // Opens or creates the journal at `path`. An existing journal whose format
  // version, banks, writer or PCR differ from `meta` is an error naming both.
  // `created` tells whether the file was new.
  static Result<std::unique_ptr<Journal>> Open(const std::string& path, const JournalMeta& meta,
                                               bool& created);
  ~Journal();

  Result<std::vector<EpochRecord>> LoadEpochs();
  Result<std::map<std::string, Bytes>> LoadPartitions();
  // Every row in seq order; stops at the first error `fn` returns.
  Status ForEachRow(const std::function<Status(JournalRow&&)>& fn);

  Status AddEpoch(const EpochRecord& epoch);
  // One transaction: new partitions, then rows.
  Status Commit(const std::vector<std::pair<std::string, Bytes>>& new_partitions,
                const std::vector<JournalRow>& rows);

  const std::string& path() const { return path_; }

 private:
  Journal() = default;
  Status Init(const JournalMeta& meta, bool& created);
  Error Fail(const std::string& op, const std::exception& e) const;

  std::string path_;
  std::vector<HashAlg> banks_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> insert_row_;
  std::unique_ptr<SQLite::Statement> insert_partition_;
};

}  // namespace immune::tsb::internal

#endif  // IMMUNE_TSB_JOURNAL_H_
