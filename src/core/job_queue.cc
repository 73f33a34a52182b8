#include "core/job_queue.h"

namespace ociexec::core {

JobQueue::~JobQueue() {
  std::deque<Task> cancelled;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    cancelled.swap(tasks_);
  }
  ready_.notify_all();
  for (auto& t : cancelled) t.cancel();
  for (auto& w : workers_) w.join();
}

void JobQueue::push(Task task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
    if (tasks_.size() > idle_ && workers_.size() < max_workers_)
      workers_.emplace_back([this] { work(); });
  }
  ready_.notify_one();
}

void JobQueue::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    --idle_;
    if (stopping_) return;
    Task task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task.run();
    lock.lock();
  }
}

}  // namespace ociexec::core
