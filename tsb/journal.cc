#include "journal.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

namespace immune::tsb::internal {
namespace {

std::string BanksText(const std::vector<HashAlg>& banks) {
  std::string s;
  for (HashAlg b : banks) {
    if (!s.empty()) s += ',';
    s += HashAlgName(b);
  }
  return s;
}

Bytes Concat(const std::vector<HashAlg>& banks, const BankDigests& d) {
  Bytes out;
  for (HashAlg b : banks) {
    auto it = d.find(b);
    if (it != d.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

// sqlite3_bind_blob binds NULL for a null pointer, even with length 0.
void BindBlob(SQLite::Statement& s, int index, const Bytes& b) {
  static const std::uint8_t kEmpty = 0;
  s.bind(index, b.empty() ? &kEmpty : b.data(), static_cast<int>(b.size()));
}

Bytes BlobOf(const SQLite::Column& c) {
  const auto* p = static_cast<const std::uint8_t*>(c.getBlob());
  return Bytes(p, p + c.getBytes());
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epochs(epoch INTEGER PRIMARY KEY, started_ns INTEGER NOT NULL, reason TEXT NOT NULL,
                                  start_pcr BLOB NOT NULL, first_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS partitions(container_id TEXT PRIMARY KEY, salt BLOB NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries(seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, batch INTEGER NOT NULL,
  time_ns INTEGER NOT NULL, pcr INTEGER NOT NULL, template TEXT NOT NULL, container_id TEXT NOT NULL,
  image TEXT NOT NULL, pid INTEGER NOT NULL, exe TEXT NOT NULL, path TEXT NOT NULL, file_alg TEXT NOT NULL,
  file_digest BLOB NOT NULL, signature BLOB NOT NULL, decision TEXT NOT NULL, rule TEXT NOT NULL,
  template_data BLOB NOT NULL, binding BLOB NOT NULL);
)sql";

}  // namespace

Journal::~Journal() = default;

Error Journal::Fail(const std::string& op, const std::exception& e) const {
  return IoError("journal " + path_ + ": " + op + ": " + e.what());
}

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& path, const JournalMeta& meta,
                                               bool& created) {
  std::unique_ptr<Journal> j(new Journal());
  j->path_ = path;
  j->banks_ = meta.banks;
  IMMUNE_RETURN_IF_ERROR(j->Init(meta, created));
  return j;
}

Status Journal::Init(const JournalMeta& meta, bool& created) {
  std::string op = "open";
  try {
    db_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    op = "set WAL mode";
    db_->exec("PRAGMA journal_mode=WAL");
    db_->exec("PRAGMA synchronous=FULL");
    op = "create schema";
    SQLite::Transaction tx(*db_);
    db_->exec(kSchema);
    const std::map<std::string, std::string> want = {
        {"format_version", std::to_string(kJournalFormatVersion)},
        {"banks", BanksText(meta.banks)},
        {"writer", meta.writer},
        {"pcr", std::to_string(meta.pcr)},
    };
    op = "read meta";
    SQLite::Statement q(*db_, "SELECT key, value FROM meta");
    std::map<std::string, std::string> have;
    while (q.executeStep()) have[q.getColumn(0).getString()] = q.getColumn(1).getString();
    created = have.empty();
    if (created) {
      op = "write meta";
      SQLite::Statement ins(*db_, "INSERT INTO meta(key, value) VALUES(?, ?)");
      for (const auto& [k, v] : want) {
        ins.bind(1, k);
        ins.bind(2, v);
        ins.exec();
        ins.reset();
      }
    } else {
      for (const auto& [k, v] : want) {
        auto it = have.find(k);
        const std::string got = it == have.end() ? std::string("(missing)") : it->second;
        if (got != v) {
          return InvalidArgument("journal " + path_ + " was written with " + k + "=" + got +
                                 ", this log uses " + k + "=" + v + "; refusing to mix them");
        }
      }
    }
    tx.commit();
    op = "prepare statements";
    insert_row_ =
        std::make_unique<SQLite::Statement>(*db_,
                                            "INSERT INTO entries(seq, epoch, batch, time_ns, pcr, template, "
                                            "container_id, image, pid, exe, path, file_alg, "
                                            "file_digest, signature, decision, rule, template_data, binding) "
                                            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    insert_partition_ = std::make_unique<SQLite::Statement>(
        *db_, "INSERT INTO partitions(container_id, salt, created_ns) VALUES(?,?,?)");
  } catch (const std::exception& e) {
    return Fail(op, e);
  }
  return OkStatus();
}

Result<std::vector<EpochRecord>> Journal::LoadEpochs() {
  try {
    std::vector<EpochRecord> out;
    SQLite::Statement q(*db_,
                        "SELECT epoch, started_ns, reason, start_pcr, first_seq FROM epochs ORDER BY epoch");
    while (q.executeStep()) {
      EpochRecord r;
      r.epoch = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
      r.started_ns = q.getColumn(1).getInt64();
      r.reason = q.getColumn(2).getString();
      const Bytes start = BlobOf(q.getColumn(3));
      r.first_seq = static_cast<std::uint64_t>(q.getColumn(4).getInt64());
      std::size_t off = 0;
      for (HashAlg b : banks_) {
        const std::size_t n = DigestSize(b);
        if (off + n > start.size()) {
          return Corruption("journal " + path_ + ": epochs row " + std::to_string(r.epoch) +
                            ": start_pcr is too short");
        }
        r.start_pcr[b] = Bytes(start.begin() + static_cast<std::ptrdiff_t>(off),
                               start.begin() + static_cast<std::ptrdiff_t>(off + n));
        off += n;
      }
      if (off != start.size()) {
        return Corruption("journal " + path_ + ": epochs row " + std::to_string(r.epoch) +
                          ": start_pcr is too long");
      }
      out.push_back(std::move(r));
    }
    return out;
  } catch (const std::exception& e) {
    return Fail("read epochs", e);
  }
}

Result<std::map<std::string, Bytes>> Journal::LoadPartitions() {
  try {
    std::map<std::string, Bytes> out;
    SQLite::Statement q(*db_, "SELECT container_id, salt FROM partitions");
    while (q.executeStep()) out[q.getColumn(0).getString()] = BlobOf(q.getColumn(1));
    return out;
  } catch (const std::exception& e) {
    return Fail("read partitions", e);
  }
}

Status Journal::ForEachRow(const std::function<Status(JournalRow&&)>& fn) {
  try {
    SQLite::Statement q(
        *db_,
        "SELECT seq, epoch, batch, time_ns, pcr, template, container_id, image, pid, exe, path, "
        "file_alg, file_digest, signature, decision, rule, template_data, binding "
        "FROM entries ORDER BY seq");
    while (q.executeStep()) {
      JournalRow r;
      MeasurementEntry& e = r.entry;
      const std::int64_t seq = q.getColumn(0).getInt64();
      const std::string row = "journal " + path_ + ": row seq=" + std::to_string(seq);
      if (seq < 0) return Corruption(row + ": negative sequence number");
      e.seq = static_cast<std::uint64_t>(seq);
      e.epoch = static_cast<std::uint64_t>(q.getColumn(1).getInt64());
      r.batch = static_cast<std::uint64_t>(q.getColumn(2).getInt64());
      e.time_ns = q.getColumn(3).getInt64();
      e.pcr = static_cast<std::uint32_t>(q.getColumn(4).getInt64());
      const std::string tmpl = q.getColumn(5).getString();
      auto kind = TemplateFromName(tmpl);
      if (!kind) return Corruption(row + ": unknown template '" + tmpl + "'");
      e.template_kind = *kind;
      e.container_id = q.getColumn(6).getString();
      e.image = q.getColumn(7).getString();
      e.pid = static_cast<std::uint32_t>(q.getColumn(8).getInt64());
      e.exe = q.getColumn(9).getString();
      e.path = q.getColumn(10).getString();
      const std::string alg = q.getColumn(11).getString();
      auto halg = HashAlgFromName(alg);
      if (!halg) return Corruption(row + ": unknown file hash algorithm '" + alg + "'");
      e.file_hash_alg = *halg;
      e.file_digest = BlobOf(q.getColumn(12));
      e.signature = BlobOf(q.getColumn(13));
      const std::string dec = q.getColumn(14).getString();
      auto d = DecisionFromName(dec);
      if (!d) return Corruption(row + ": unknown decision '" + dec + "'");
      e.decision = *d;
      e.rule = q.getColumn(15).getString();
      r.template_data = BlobOf(q.getColumn(16));
      r.binding = BlobOf(q.getColumn(17));
      IMMUNE_RETURN_IF_ERROR(fn(std::move(r)));
    }
    return OkStatus();
  } catch (const std::exception& e) {
    return Fail("read entries", e);
  }
}

Status Journal::AddEpoch(const EpochRecord& r) {
  try {
    SQLite::Statement ins(
        *db_, "INSERT INTO epochs(epoch, started_ns, reason, start_pcr, first_seq) VALUES(?,?,?,?,?)");
    ins.bind(1, static_cast<std::int64_t>(r.epoch));
    ins.bind(2, r.started_ns);
    ins.bind(3, r.reason);
    const Bytes start = Concat(banks_, r.start_pcr);
    BindBlob(ins, 4, start);
    ins.bind(5, static_cast<std::int64_t>(r.first_seq));
    ins.exec();
    return OkStatus();
  } catch (const std::exception& e) {
    return Fail("add epoch " + std::to_string(r.epoch), e);
  }
}

Status Journal::Commit(const std::vector<std::pair<std::string, Bytes>>& new_partitions,
                       const std::vector<JournalRow>& rows) {
  std::string op = "begin";
  try {
    SQLite::Transaction tx(*db_);
    for (const auto& [id, salt] : new_partitions) {
      op = "add partition '" + id + "'";
      insert_partition_->reset();
      insert_partition_->bind(1, id);
      BindBlob(*insert_partition_, 2, salt);
      insert_partition_->bind(3, static_cast<std::int64_t>(0));
      insert_partition_->exec();
    }
    for (const JournalRow& r : rows) {
      const MeasurementEntry& e = r.entry;
      op = "insert seq " + std::to_string(e.seq);
      SQLite::Statement& s = *insert_row_;
      s.reset();
      s.bind(1, static_cast<std::int64_t>(e.seq));
      s.bind(2, static_cast<std::int64_t>(e.epoch));
      s.bind(3, static_cast<std::int64_t>(r.batch));
      s.bind(4, e.time_ns);
      s.bind(5, static_cast<std::int64_t>(e.pcr));
      s.bind(6, std::string(TemplateName(e.template_kind)));
      s.bind(7, e.container_id);
      s.bind(8, e.image);
      s.bind(9, static_cast<std::int64_t>(e.pid));
      s.bind(10, e.exe);
      s.bind(11, e.path);
      s.bind(12, std::string(HashAlgName(e.file_hash_alg)));
      BindBlob(s, 13, e.file_digest);
      BindBlob(s, 14, e.signature);
      s.bind(15, std::string(DecisionName(e.decision)));
      s.bind(16, e.rule);
      BindBlob(s, 17, r.template_data);
      BindBlob(s, 18, r.binding);
      s.exec();
    }
    op = "commit";
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return Fail(op, e);
  }
}

}  // namespace immune::tsb::internal
