// The workers behind Executor::submit, on plain tasks: order, the bound, and destruction from
// inside a task or while a task pushes another.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "core/job_queue.h"

using namespace ociexec;
using namespace std::chrono_literals;

TEST_CASE("job queue: a task may destroy the queue that runs it") {
  auto* queue = new core::JobQueue(2);
  std::promise<void> destroyed;
  queue->push({[&] {
                 delete queue;  // joins the other workers, leaves this one to end by itself
                 destroyed.set_value();
               },
               [] {}});
  auto f = destroyed.get_future();
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  std::this_thread::sleep_for(50ms);  // the detached worker finishes its loop meanwhile
}

TEST_CASE("job queue: a push while the queue is destroyed cancels the task at once") {
  std::atomic<int> ran{0};
  std::atomic<int> cancelled{0};
  std::promise<void> started;
  std::promise<void> release;
  auto release_f = release.get_future().share();
  {
    core::JobQueue queue(1);
    queue.push({[&] {
                  started.set_value();
                  release_f.wait();  // the destructor is under way by now
                  queue.push({[&] { ++ran; }, [&] { ++cancelled; }});
                },
                [&] { ++cancelled; }});
    queue.push({[&] { ++ran; }, [&] { ++cancelled; }});  // waits: cancelled by the destructor
    started.get_future().wait();
    std::thread releaser([&] {
      std::this_thread::sleep_for(100ms);
      release.set_value();
    });
    releaser.detach();
  }  // destroyed while the first task runs; that task's push comes during the destruction
  CHECK(ran == 0);
  CHECK(cancelled == 2);
}
