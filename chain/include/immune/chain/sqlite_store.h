// The embedded SQLite backend of BlockStore (SQLiteCpp, WAL journal).
//
// Schema (docs/chain-format.md): meta(key, value); blocks(height PRIMARY
// KEY, hash, header, signatures); records(height, idx, body) with one row
// per record. A block and its records are written in one IMMEDIATE
// transaction, so a crash (kill -9 included) leaves whole blocks only.
// SQLiteCpp's exceptions stop here: every error names the file and the
// operation.
//
// Thread safety: one object per thread (BlockStore's rule).
#ifndef IMMUNE_CHAIN_SQLITE_STORE_H_
#define IMMUNE_CHAIN_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "immune/chain/store.h"

namespace immune::chain {

struct SqliteOptions {
  bool create = false;
  // FULL syncs every commit to disk (durable across power loss); NORMAL
  // only at checkpoints (durable across process crashes, WAL's guarantee).
  bool synchronous_full = true;
};

Result<std::unique_ptr<BlockStore>> OpenSqliteStore(const std::string& path, const SqliteOptions& options);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_SQLITE_STORE_H_
