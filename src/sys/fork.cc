#include "sys/fork.h"

#include <pthread.h>

#include <atomic>

namespace ociexec::sys {

namespace {

std::atomic<std::uint64_t> g_generation{0};

void count_child() noexcept {
  g_generation.fetch_add(1, std::memory_order_relaxed);
}

// Registered when the library is loaded, before any executor exists.
const int g_registered = ::pthread_atfork(nullptr, nullptr, count_child);

}  // namespace

std::uint64_t fork_generation() noexcept {
  (void)g_registered;
  return g_generation.load(std::memory_order_relaxed);
}

}  // namespace ociexec::sys
