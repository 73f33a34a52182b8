#include "core/job_queue.h"

namespace ociexec::core {

JobQueue::JobQueue(std::size_t workers) : state_(std::make_shared<State>()) {
  state_->max_workers = workers == 0 ? 1 : workers;
}

JobQueue::~JobQueue() {
  std::deque<Task> cancelled;
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    cancelled.swap(state_->tasks);
    workers.swap(state_->workers);
  }
  state_->ready.notify_all();
  for (auto& t : cancelled) t.cancel();
  for (auto& w : workers) {
    // Destroyed by one of our own tasks: that worker cannot wait for itself. It finds the
    // queue stopping once its task returns, and ends.
    if (w.get_id() == std::this_thread::get_id())
      w.detach();
    else
      w.join();
  }
}

void JobQueue::push(Task task) {
  // Once the task is queued, a worker may run it and the task may destroy this queue before
  // we return: from then on only this copy of the state is used, never `this`.
  const std::shared_ptr<State> state = state_;
  bool queued = false;
  {
    std::lock_guard lock(state->mutex);
    if (!state->stopping) {
      state->tasks.push_back(std::move(task));
      if (state->tasks.size() > state->idle && state->workers.size() < state->max_workers)
        state->workers.emplace_back([state] { work(state); });
      queued = true;
    }
  }
  if (!queued) {
    task.cancel();  // the queue is going away: the task never starts
    return;
  }
  state->ready.notify_one();
}

void JobQueue::work(const std::shared_ptr<State>& state) {
  std::unique_lock lock(state->mutex);
  while (true) {
    ++state->idle;
    state->ready.wait(lock, [&] { return state->stopping || !state->tasks.empty(); });
    --state->idle;
    if (state->stopping) return;
    Task task = std::move(state->tasks.front());
    state->tasks.pop_front();
    lock.unlock();
    task.run();
    task = {};  // what the task holds goes now, outside the lock
    lock.lock();
  }
}

}  // namespace ociexec::core
