// The journal writer: one thread that drains a bounded queue of submissions
// into MeasurementLog::AppendBatch (one journal transaction and one TPM
// extend per batch), after asking the policy hook for each entry's decision.
// A submission's completion runs after its entries are journaled (and, when
// the TPM answered, extended), so an acknowledgement is durable.
//
// Batching matters: the swtpm TCTI opens one TCP connection per command, so
// one extend per entry would leave thousands of sockets in TIME_WAIT.
//
// Thread safety: Enqueue, RunOnWriter and the accessors may be called from
// any thread. Completions and RunOnWriter closures run on the writer thread:
// they must not block on the writer (no Enqueue with wait from inside them).
#ifndef IMMUNE_TSBD_WRITER_H_
#define IMMUNE_TSBD_WRITER_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "immune/core/error.h"
#include "immune/tsb/measurement_log.h"
#include "immune/tsbd/agent.h"

namespace immune::tsbd {

struct Submission {
  std::string agent;
  std::vector<tsb::MeasurementEntry> entries;  // valid (ValidateEntry) entries
  // Entries with a non-empty rule keep their decision (in-process agents that
  // enforce decide before they submit); the others go to the policy hook.
  bool keep_decisions = false;
  // Called once on the writer thread: verdicts in entry order, or the error.
  std::function<void(Result<std::vector<Verdict>>)> done;
};

// Receives every journaled entry (decision set) and every failure; called on
// the writer thread after the completions of a batch. `decided_by_agent`: the
// submitter decided the entry itself (keep_decisions and a rule), so it knows,
// and reports, what it did about a denial; otherwise the policy hook decided.
class WriterObserver {
 public:
  virtual ~WriterObserver() = default;
  virtual void OnJournaled(const std::string& agent, const tsb::MeasurementEntry& entry,
                           bool decided_by_agent) = 0;
  virtual void OnAppendFailed(const Error& error, std::size_t entries) = 0;
};

struct WriterStats {
  std::uint64_t appended = 0;  // entries journaled by this process
  std::uint64_t batches = 0;
  std::uint64_t failed = 0;  // entries whose append failed
  std::size_t queued = 0;    // entries waiting now
  double busy_seconds = 0;   // time spent in AppendBatch
};

class Writer {
 public:
  // `log`, `policy` and `observer` are borrowed and must outlive the Writer.
  Writer(tsb::MeasurementLog& log, PolicyHook& policy, WriterObserver& observer, std::size_t capacity,
         std::size_t max_batch);
  ~Writer();  // Stop()
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues a submission. With `wait`, blocks while the queue is full;
  // without, a full queue is kUnavailable. kUnavailable after Stop. A
  // submission larger than the capacity is kInvalidArgument.
  Status Enqueue(Submission s, bool wait);
  // Runs `fn` on the writer thread between batches (the TPM's only user)
  // and returns when it has run; kUnavailable after Stop.
  Status RunOnWriter(std::function<void()> fn);
  // Journals what is queued, then stops the thread (idempotent).
  void Stop();
  WriterStats stats() const;

 private:
  void Loop();

  tsb::MeasurementLog& log_;
  PolicyHook& policy_;
  WriterObserver& observer_;
  const std::size_t capacity_;
  const std::size_t max_batch_;

  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<Submission> queue_;
  std::deque<std::function<void()>> tasks_;
  std::size_t queued_entries_ = 0;
  bool stopping_ = false;
  WriterStats stats_;
  std::thread thread_;
};

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_WRITER_H_
