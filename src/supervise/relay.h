// Live output (JobOptions::on_output): the supervisor hands each piece of output it reads to
// an OutputRelay, whose own thread calls the caller's callback. The supervisor therefore never
// waits for a callback, and its deadlines hold however slow one is. The queue is bounded:
// above kHighWater queued bytes the relay is full(), and the supervisor stops reading the
// job's pipes (the job's writes then block, as on a slow terminal) until the callback has
// caught up to kLowWater, which the relay signals on ready_fd().
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ociexec/error.h"
#include "ociexec/options.h"
#include "sys/unique_fd.h"

namespace ociexec::supervise {

class OutputRelay {
 public:
  static constexpr std::size_t kHighWater = std::size_t{4} << 20;
  static constexpr std::size_t kLowWater = std::size_t{1} << 20;
  // After the job exited, the pipes are read without waiting for the callback (what is left
  // in them is finite); past this many queued bytes, pieces are dropped and counted.
  static constexpr std::size_t kHardLimit = std::size_t{64} << 20;

  static Expected<std::unique_ptr<OutputRelay>> start(OutputCallback callback);
  OutputRelay(const OutputRelay&) = delete;
  OutputRelay& operator=(const OutputRelay&) = delete;
  ~OutputRelay();  // finish()

  // Queues a copy of `bytes` for the callback.
  void push(OutputStream stream, std::string_view bytes);
  // Whether the last stderr byte pushed was not a newline (the caller's own line then starts
  // a new one).
  [[nodiscard]] bool stderr_mid_line() const;
  // Above the high-water mark: read no more until ready_fd() is readable.
  [[nodiscard]] bool full() const;
  [[nodiscard]] sys::FdRef ready_fd() const { return ready_.fd(); }
  void clear_ready() const { ready_.clear(); }
  // Waits until every queued piece was delivered, then stops the thread. Returns what went
  // wrong for the caller's result: the callback threw (later pieces were not delivered), or
  // pieces were dropped past kHardLimit.
  std::optional<std::string> finish();

 private:
  OutputRelay(OutputCallback callback, sys::EventFd ready);
  void deliver_loop();

  OutputCallback callback_;
  sys::EventFd ready_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<OutputStream, std::string>> queue_;
  std::size_t queued_ = 0;
  bool full_ = false;
  bool finishing_ = false;
  bool stderr_mid_line_ = false;
  std::size_t dropped_ = 0;
  std::optional<std::string> failure_;
  std::thread thread_;
};

}  // namespace ociexec::supervise
