// fork() in a program that embeds the executor (gunicorn --preload, multiprocessing): the
// child has a copy of every object but none of the threads, and a new pid. Whatever caches
// the process' identity, or owns threads, children or locks, checks the generation below and
// re-derives its state in a child instead of acting on the parent's.
#pragma once

#include <cstdint>

namespace ociexec::sys {

// 0 in the process that loaded ociexec; one more in each child of a fork() (counted by a
// pthread_atfork handler, so a raw clone() or vfork() followed by exec does not count).
// Lock-free and cheap: read it on every call where it matters.
std::uint64_t fork_generation() noexcept;

}  // namespace ociexec::sys
