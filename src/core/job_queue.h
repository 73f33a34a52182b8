// The worker threads behind Executor::submit: at most `workers` jobs run at once, the rest
// wait in order. Threads start on demand. Destroying the queue cancels what has not started
// (each task's cancel function runs) and waits for what is running.
//
// Both of these are safe: destroying the queue from one of its own tasks (a `done` callback
// that drops the last handle to the executor: that worker is not joined, it ends by itself
// once its task returns), and a push() while the queue is being destroyed (the task is
// cancelled at once).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
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
  explicit JobQueue(std::size_t workers);
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;
  ~JobQueue();

  void push(Task task);

 private:
  // Shared with the workers, so one that outlives the queue (see above) still has it.
  struct State {
    std::size_t max_workers;
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Task> tasks;
    std::vector<std::thread> workers;
    std::size_t idle = 0;
    bool stopping = false;
  };
  static void work(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace ociexec::core
