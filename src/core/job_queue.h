// The worker threads behind Executor::submit: at most `workers` jobs run at once, the rest
// wait in order. Threads start on demand. Destroying the queue cancels what has not started
// (each task's cancel function runs) and waits for what is running.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ociexec::core {

class JobQueue {
 public:
  struct Task {
    std::function<void()> run;
    std::function<void()> cancel;
  };
  explicit JobQueue(std::size_t workers) : max_workers_(workers == 0 ? 1 : workers) {}
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;
  ~JobQueue();

  void push(Task task);

 private:
  void work();
  const std::size_t max_workers_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Task> tasks_;
  std::vector<std::thread> workers_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace ociexec::core
