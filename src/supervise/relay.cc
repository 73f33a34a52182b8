#include "supervise/relay.h"

#include <fmt/format.h>

namespace ociexec::supervise {

Expected<std::unique_ptr<OutputRelay>> OutputRelay::start(OutputCallback callback) {
  auto ready = sys::EventFd::create();
  if (!ready) return tl::unexpected(ready.error().with_context("live output"));
  std::unique_ptr<OutputRelay> relay(new OutputRelay(std::move(callback), std::move(*ready)));
  relay->thread_ = std::thread([r = relay.get()] { r->deliver_loop(); });
  return relay;
}

OutputRelay::OutputRelay(OutputCallback callback, sys::EventFd ready)
    : callback_(std::move(callback)), ready_(std::move(ready)) {}

OutputRelay::~OutputRelay() {
  (void)finish();
}

void OutputRelay::push(OutputStream stream, std::string_view bytes) {
  {
    std::lock_guard lock(mutex_);
    if (failure_) return;  // the callback is no longer called
    if (queued_ + bytes.size() > kHardLimit) {
      dropped_ += bytes.size();
      return;
    }
    if (stream == OutputStream::kStderr && !bytes.empty()) stderr_mid_line_ = bytes.back() != '\n';
    queued_ += bytes.size();
    if (queued_ >= kHighWater) full_ = true;
    queue_.emplace_back(stream, std::string(bytes));
  }
  changed_.notify_one();
}

bool OutputRelay::stderr_mid_line() const {
  std::lock_guard lock(mutex_);
  return stderr_mid_line_;
}

bool OutputRelay::full() const {
  std::lock_guard lock(mutex_);
  return full_;
}

void OutputRelay::deliver_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return finishing_ || !queue_.empty(); });
    if (queue_.empty()) return;  // finishing, and all delivered
    auto [stream, bytes] = std::move(queue_.front());
    queue_.pop_front();
    const bool call = !failure_;
    lock.unlock();
    std::optional<std::string> threw;
    if (call) {
      try {
        callback_(stream, bytes);
      } catch (const std::exception& e) {
        threw = e.what();
      } catch (...) {
        threw = "an exception that is not a std::exception";
      }
    }
    lock.lock();
    if (threw && !failure_) {
      failure_ = fmt::format(
          "live output: the on_output callback threw ({}); the job's later "
          "output was not passed to it (the result holds it, up to the cap)",
          *threw);
      queued_ = 0;  // what is still queued is dropped below, without calls
    }
    queued_ -= std::min(queued_, bytes.size());
    if (full_ && (queued_ <= kLowWater || failure_)) {
      full_ = false;
      ready_.notify();
    }
  }
}

std::optional<std::string> OutputRelay::finish() {
  {
    std::lock_guard lock(mutex_);
    finishing_ = true;
  }
  changed_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  if (failure_) return failure_;
  if (dropped_ > 0)
    return fmt::format(
        "live output: {} bytes read after the job ended were not passed to "
        "on_output, which had fallen more than {} MiB behind (the result holds "
        "them, up to the cap)",
        dropped_, kHardLimit >> 20);
  return std::nullopt;
}

}  // namespace ociexec::supervise
