#include "immune/tsbd/writer.h"

#include <chrono>
#include <future>
#include <utility>

#include "immune/core/log.h"

namespace immune::tsbd {

Writer::Writer(tsb::MeasurementLog& log, PolicyHook& policy, WriterObserver& observer, std::size_t capacity,
               std::size_t max_batch)
    : log_(log), policy_(policy), observer_(observer), capacity_(capacity), max_batch_(max_batch) {
  thread_ = std::thread([this] { Loop(); });
}

Writer::~Writer() { Stop(); }

Status Writer::Enqueue(Submission s, bool wait) {
  const std::size_t n = s.entries.size();
  if (n > capacity_)
    return InvalidArgument("submission of " + std::to_string(n) + " entries exceeds the queue capacity");
  std::unique_lock lock(mu_);
  if (wait) {
    not_full_.wait(lock, [&] { return stopping_ || queued_entries_ + n <= capacity_; });
  }
  if (stopping_) return Unavailable("immuned is stopping");
  if (queued_entries_ + n > capacity_) return Unavailable("measurement queue full; retry");
  queued_entries_ += n;
  queue_.push_back(std::move(s));
  not_empty_.notify_one();
  return OkStatus();
}

Status Writer::RunOnWriter(std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Unavailable("immuned is stopping");
    tasks_.push_back([fn = std::move(fn), done] {
      fn();
      done->set_value();
    });
    not_empty_.notify_one();
  }
  fut.wait();
  return OkStatus();
}

void Writer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

WriterStats Writer::stats() const {
  std::lock_guard lock(mu_);
  WriterStats s = stats_;
  s.queued = queued_entries_;
  return s;
}

void Writer::Loop() {
  for (;;) {
    std::vector<Submission> batch;
    std::deque<std::function<void()>> tasks;
    std::size_t n = 0;
    {
      std::unique_lock lock(mu_);
      not_empty_.wait(lock, [&] { return stopping_ || !queue_.empty() || !tasks_.empty(); });
      tasks.swap(tasks_);
      while (!queue_.empty() && (n == 0 || n + queue_.front().entries.size() <= max_batch_)) {
        n += queue_.front().entries.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (batch.empty() && tasks.empty() && stopping_) return;
    }
    for (auto& t : tasks) t();
    if (batch.empty()) continue;

    std::vector<tsb::MeasurementEntry> entries;
    entries.reserve(n);
    std::vector<bool> decided_by_agent;
    decided_by_agent.reserve(n);
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    for (auto& s : batch) {
      for (auto& e : s.entries) {
        if (e.time_ns == 0) e.time_ns = now_ns;
        const bool kept = s.keep_decisions && !e.rule.empty();
        if (!kept) {
          Verdict v = policy_.Decide(e);
          e.decision = v.decision;
          e.rule = std::move(v.rule);
        }
        entries.push_back(e);
        decided_by_agent.push_back(kept);
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto first = log_.AppendBatch(entries);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard lock(mu_);
      queued_entries_ -= n;
      stats_.busy_seconds += secs;
      if (first.ok()) {
        stats_.appended += n;
        ++stats_.batches;
      } else {
        stats_.failed += n;
      }
      not_full_.notify_all();
    }
    if (!first.ok()) {
      LogError("journal append of " + std::to_string(n) + " entries failed: " + first.error().ToString());
      for (auto& s : batch) s.done(first.error());
      observer_.OnAppendFailed(first.error(), n);
      continue;
    }
    std::uint64_t seq = *first;
    const std::uint64_t epoch = log_.current_epoch();
    std::size_t k = 0;
    for (auto& s : batch) {
      std::vector<Verdict> verdicts;
      verdicts.reserve(s.entries.size());
      for (std::size_t i = 0; i < s.entries.size(); ++i, ++k, ++seq) {
        entries[k].seq = seq;
        entries[k].epoch = epoch;
        entries[k].pcr = log_.pcr();
        verdicts.push_back(Verdict{seq, entries[k].decision, entries[k].rule});
      }
      s.done(std::move(verdicts));
    }
    k = 0;
    for (auto& s : batch) {
      for (std::size_t i = 0; i < s.entries.size(); ++i, ++k)
        observer_.OnJournaled(s.agent, entries[k], decided_by_agent[k]);
    }
  }
}

}  // namespace immune::tsbd
