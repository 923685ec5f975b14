#include "immune/chain/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>

#include "immune/chain/etcd_module.h"

namespace immune::chain {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks(
  height INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  header BLOB NOT NULL,
  signatures BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records(
  height INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY(height, idx)) WITHOUT ROWID;
)sql";

class SqliteStore final : public BlockStore {
 public:
  SqliteStore(std::string path, std::unique_ptr<SQLite::Database> db)
      : path_(std::move(path)), db_(std::move(db)) {}

  Status Initialize(std::string_view trust_json) override {
    return Guard("initialising", [&]() -> Status {
      SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      SQLite::Statement q(*db_, "SELECT count(*) FROM meta WHERE key = 'trust'");
      q.executeStep();
      if (q.getColumn(0).getInt64() != 0)
        return InvalidArgument(path_ + ": already initialised with a trust configuration");
      SQLite::Statement ins(*db_,
                            "INSERT INTO meta(key, value) VALUES('trust', ?), ('format', 'immune-chain/1')");
      ins.bind(1, trust_json.data(), static_cast<int>(trust_json.size()));
      ins.exec();
      tx.commit();
      return OkStatus();
    });
  }

  Result<std::string> ReadTrustConfig() override {
    std::string out;
    Status s = Guard("reading the trust configuration", [&]() -> Status {
      SQLite::Statement q(*db_, "SELECT value FROM meta WHERE key = 'trust'");
      if (!q.executeStep()) return NotFound(path_ + ": not initialised (run `immunectl chain init`)");
      const SQLite::Column c = q.getColumn(0);
      out.assign(static_cast<const char*>(c.getBlob()), static_cast<std::size_t>(c.getBytes()));
      return OkStatus();
    });
    if (!s.ok()) return s.error();
    return out;
  }

  Result<std::optional<ChainHead>> Head() override {
    std::optional<ChainHead> head;
    Status s = Guard("reading the head", [&]() -> Status { return HeadLocked(head); });
    if (!s.ok()) return s.error();
    return head;
  }

  Result<AppendOutcome> Append(const Block& block, const Hash256& hash) override {
    AppendOutcome outcome = AppendOutcome::kConflict;
    Status s = Guard("appending block " + std::to_string(block.header.height), [&]() -> Status {
      SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      std::optional<ChainHead> head;
      IMMUNE_RETURN_IF_ERROR(HeadLocked(head));
      const std::uint64_t next = head ? head->height + 1 : 0;
      const Hash256 prev = head ? head->hash : Hash256{};
      if (block.header.height != next || block.header.prev_hash != prev) return OkStatus();  // conflict
      if (!insert_block_) {
        insert_block_ = std::make_unique<SQLite::Statement>(
            *db_, "INSERT INTO blocks(height, hash, header, signatures) VALUES(?, ?, ?, ?)");
        insert_record_ = std::make_unique<SQLite::Statement>(
            *db_, "INSERT INTO records(height, idx, body) VALUES(?, ?, ?)");
      }
      const Bytes header = EncodeHeader(block.header);
      const Bytes sigs = EncodeSignatures(block.signatures);
      const auto height = static_cast<std::int64_t>(block.header.height);
      insert_block_->reset();
      insert_block_->bind(1, height);
      insert_block_->bindNoCopy(2, hash.data(), static_cast<int>(hash.size()));
      insert_block_->bindNoCopy(3, header.data(), static_cast<int>(header.size()));
      insert_block_->bindNoCopy(4, sigs.data(), static_cast<int>(sigs.size()));
      insert_block_->exec();
      for (std::size_t i = 0; i < block.records.size(); ++i) {
        insert_record_->reset();
        insert_record_->bind(1, height);
        insert_record_->bind(2, static_cast<std::int64_t>(i));
        insert_record_->bindNoCopy(3, block.records[i].data(), static_cast<int>(block.records[i].size()));
        insert_record_->exec();
      }
      tx.commit();
      outcome = AppendOutcome::kAppended;
      return OkStatus();
    });
    if (!s.ok()) return s.error();
    return outcome;
  }

  Result<Block> Read(std::uint64_t height) override {
    Block b;
    Status s = Guard("reading block " + std::to_string(height), [&]() -> Status {
      if (!read_block_) {
        read_block_ = std::make_unique<SQLite::Statement>(
            *db_, "SELECT header, signatures FROM blocks WHERE height = ?");
        read_records_ = std::make_unique<SQLite::Statement>(
            *db_, "SELECT idx, body FROM records WHERE height = ? ORDER BY idx");
      }
      read_block_->reset();
      read_block_->bind(1, static_cast<std::int64_t>(height));
      if (!read_block_->executeStep()) return NotFound("block " + std::to_string(height) + " is missing");
      const SQLite::Column hc = read_block_->getColumn(0);
      auto header = DecodeHeader(
          ByteSpan(static_cast<const std::uint8_t*>(hc.getBlob()), static_cast<std::size_t>(hc.getBytes())));
      if (!header.ok()) return header.error().WithContext("block " + std::to_string(height));
      b.header = *header;
      const SQLite::Column sc = read_block_->getColumn(1);
      auto sigs = DecodeSignatures(
          ByteSpan(static_cast<const std::uint8_t*>(sc.getBlob()), static_cast<std::size_t>(sc.getBytes())));
      if (!sigs.ok()) return sigs.error().WithContext("block " + std::to_string(height));
      b.signatures = std::move(sigs).value();
      read_block_->reset();
      read_records_->reset();
      read_records_->bind(1, static_cast<std::int64_t>(height));
      b.records.reserve(b.header.record_count);
      std::int64_t expect = 0;
      while (read_records_->executeStep()) {
        const std::int64_t idx = read_records_->getColumn(0).getInt64();
        if (idx != expect)
          return Corruption("block " + std::to_string(height) + ": record " + std::to_string(expect) +
                            " is missing (next stored is " + std::to_string(idx) + ")");
        const SQLite::Column body = read_records_->getColumn(1);
        const auto* p = static_cast<const std::uint8_t*>(body.getBlob());
        b.records.emplace_back(p, p + body.getBytes());
        ++expect;
      }
      return OkStatus();
    });
    if (!s.ok()) return s.error();
    return b;
  }

  Result<std::uint64_t> BlockCount() override {
    std::uint64_t n = 0;
    Status s = Guard("counting blocks", [&]() -> Status {
      SQLite::Statement q(*db_, "SELECT count(*) FROM blocks");
      q.executeStep();
      n = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
      return OkStatus();
    });
    if (!s.ok()) return s.error();
    return n;
  }

 private:
  // Runs `f`, turning SQLiteCpp's exceptions into an Error naming the file
  // and the operation.
  template <typename F>
  Status Guard(const std::string& what, F&& f) {
    try {
      return f();
    } catch (const std::exception& e) {
      return IoError(path_ + ": " + what + ": " + e.what());
    }
  }

  Status HeadLocked(std::optional<ChainHead>& head) {
    SQLite::Statement q(*db_, "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1");
    if (!q.executeStep()) return OkStatus();
    const SQLite::Column h = q.getColumn(1);
    if (h.getBytes() != static_cast<int>(kHashSize))
      return Corruption(path_ + ": block " + std::to_string(q.getColumn(0).getInt64()) +
                        ": stored hash is not 32 bytes");
    ChainHead c;
    c.height = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
    std::memcpy(c.hash.data(), h.getBlob(), kHashSize);
    head = c;
    return OkStatus();
  }

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> insert_block_, insert_record_, read_block_, read_records_;
};

}  // namespace

Result<std::unique_ptr<BlockStore>> OpenSqliteStore(const std::string& path, const SqliteOptions& options) {
  if (!options.create && !std::filesystem::exists(path))
    return NotFound(path + ": no chain store here (create one with `immunectl chain init`)");
  try {
    const int flags = SQLite::OPEN_READWRITE | (options.create ? SQLite::OPEN_CREATE : 0);
    auto db = std::make_unique<SQLite::Database>(path, flags, /*busy_timeout_ms=*/10000);
    db->exec("PRAGMA journal_mode = WAL");
    db->exec(options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (options.create) {
      db->exec(kSchema);
    } else {
      // Reading commands never create tables in a file that is not a chain store.
      SQLite::Statement q(
          *db,
          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'blocks', "
          "'records')");
      q.executeStep();
      if (q.getColumn(0).getInt() != 3)
        return InvalidArgument(path +
                               ": not an Immune chain store (tables meta, blocks, records are missing)");
    }
    return std::unique_ptr<BlockStore>(new SqliteStore(path, std::move(db)));
  } catch (const std::exception& e) {
    return IoError(path + ": opening the chain store: " + e.what());
  }
}

Result<std::unique_ptr<BlockStore>> OpenStore(std::string_view location, bool create) {
  std::string_view path = location;
  if (location.starts_with("sqlite:")) {
    path = location.substr(7);
  } else if (location.starts_with("etcd:")) {
    return OpenEtcdStoreModule(location, create);
  }
  if (path.empty()) return InvalidArgument("store location \"" + std::string(location) + "\": no path");
  SqliteOptions o;
  o.create = create;
  return OpenSqliteStore(std::string(path), o);
}

std::string DefaultStoreLocation() {
  const char* env = std::getenv("IMMUNE_CHAIN_STORE");
  if (env != nullptr && *env != '\0') return env;
  return "sqlite:./immune-chain.db";
}

}  // namespace immune::chain
