#include "worker/worker.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "sys/unique_fd.h"

namespace ociexec::worker {

namespace {

using Clock = std::chrono::steady_clock;
using Fields = std::vector<std::pair<std::string, std::string>>;

struct Entry {
  std::string id;
  Fields fields;  // empty: the entry was deleted from the stream
  [[nodiscard]] const std::string* field(const std::string& name) const {
    for (const auto& [k, v] : fields)
      if (k == name) return &v;
    return nullptr;
  }
};

// [[id, [field, value, ...]], ...], as XREADGROUP (per stream) and XAUTOCLAIM give entries.
std::vector<Entry> parse_entries(const Reply& list) {
  std::vector<Entry> out;
  for (const auto& e : list.elements) {
    if (e.elements.size() != 2 || e.elements[0].type != Reply::Type::kString) continue;
    Entry entry{e.elements[0].str, {}};
    const auto& kv = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
      entry.fields.emplace_back(kv[i].str, kv[i + 1].str);
    out.push_back(std::move(entry));
  }
  return out;
}

std::string default_consumer() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  return fmt::format("{}-{}", host, ::getpid());
}

// A job the worker has taken and not yet acknowledged.
struct InFlight {
  sys::Pipe signals;  // each byte written is a signal for every process of the job
};

// What the writer writes for one entry.
struct Finished {
  std::string id;
  nlohmann::json result;
  long long attempt = 1;
  bool dead = false;  // delivered too often: to the dead-letter stream too
  Fields fields;
};

class Worker {
 public:
  Worker(WorkerOptions options, const JobCodec& codec) : o_(std::move(options)), codec_(codec) {
    if (o_.consumer.empty()) o_.consumer = default_consumer();
  }

  Expected<void> run(const ExecutorOptions& executor_options, int signal_fd) {
    auto reader = Redis::connect(o_.redis);
    if (!reader) return tl::unexpected(reader.error());
    auto writer = Redis::connect(o_.redis);
    if (!writer) return tl::unexpected(writer.error());
    auto group = reader->call({"XGROUP", "CREATE", o_.stream, o_.group, "0", "MKSTREAM"});
    if (!group) return tl::unexpected(group.error());
    if (group->type == Reply::Type::kError && group->str.rfind("BUSYGROUP", 0) != 0)
      return tl::unexpected(
          Error{ErrorKind::kInvalidArgument, fmt::format("stream {}: {}", o_.stream, group->str)});
    // Signals are taken while a call waits for Redis to come back, too.
    reader->keep_trying = [this, signal_fd] {
      take_signals(signal_fd);
      return signals_.load() == 0;
    };
    writer->keep_trying = [this] { return signals_.load() < 3; };
    writer->on_reconnect = [this, w = &*writer] {
      log("reconnected to redis");
      heartbeat(*w);  // before another worker finds our entries idle
    };
    auto exec = Executor::create(executor_options);
    if (!exec) return tl::unexpected(exec.error());
    log(fmt::format("consumer {} of group {} on {}: running up to {} jobs at once", o_.consumer,
                    o_.group, o_.stream, o_.concurrency));
    std::thread writing([this, w = &*writer] { writer_loop(*w); });
    read_loop(*reader, *exec, signal_fd);
    // Draining: every job taken finishes (a second signal kills them) and is acknowledged.
    {
      std::unique_lock lock(mutex_);
      while (!in_flight_.empty() && signals_.load() < 3) {
        lock.unlock();
        take_signals(signal_fd);
        lock.lock();
        changed_.wait_for(lock, std::chrono::milliseconds(100));
      }
      writer_stop_ = true;
    }
    changed_.notify_all();
    writing.join();
    // Deleting a consumer drops its pending entries for good: only one with none (a result
    // that could not be written leaves its entry pending, for another worker to run).
    if (auto mine = reader->call({"XPENDING", o_.stream, o_.group, "-", "+", "1", o_.consumer});
        mine && mine->type == Reply::Type::kArray && mine->elements.empty())
      (void)reader->call({"XGROUP", "DELCONSUMER", o_.stream, o_.group, o_.consumer});
    return {};
  }

 private:
  void log(const std::string& line) const {
    if (o_.log) o_.log(line);
  }

  // One byte per signal: the first stops the reading, the second kills the running jobs.
  void take_signals(int fd) {
    char sig;
    while (::read(fd, &sig, 1) == 1) {
      const int n = ++signals_;
      if (n == 1) log("stopping: no more jobs are read; running jobs finish");
      if (n == 2) {
        log("killing the running jobs");
        std::lock_guard lock(mutex_);
        const char kill = SIGKILL;
        for (auto& [id, job] : in_flight_)
          if (job.signals.write.valid()) (void)!::write(job.signals.write.get(), &kill, 1);
      }
    }
  }

  std::size_t free_slots() {
    std::lock_guard lock(mutex_);
    return in_flight_.size() >= o_.concurrency ? 0 : o_.concurrency - in_flight_.size();
  }

  void read_loop(Redis& redis, Executor& exec, int signal_fd) {
    const auto claim_every = std::max(o_.claim_idle / 2, std::chrono::milliseconds(100));
    auto next_claim = Clock::now();
    const std::chrono::milliseconds block(200);
    while (true) {
      take_signals(signal_fd);
      if (signals_.load() > 0) return;
      if (Clock::now() >= next_claim) {
        reclaim(redis, exec);
        next_claim = Clock::now() + claim_every;
      }
      const std::size_t free = free_slots();
      if (free == 0) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, block);
        continue;
      }
      auto reply =
          redis.call({"XREADGROUP", "GROUP", o_.group, o_.consumer, "COUNT", std::to_string(free),
                      "BLOCK", std::to_string(block.count()), "STREAMS", o_.stream, ">"},
                     block + o_.redis.timeout);
      if (!reply) {
        if (signals_.load() == 0) log(reply.error().message);
        continue;
      }
      if (reply->type == Reply::Type::kError) {
        log(fmt::format("XREADGROUP: {}", reply->str));
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      for (const auto& stream : reply->elements)
        if (stream.elements.size() == 2)
          for (auto& entry : parse_entries(stream.elements[1])) start(exec, std::move(entry), 1);
    }
  }

  // Entries idle past claim_idle (their worker died, or lost Redis for that long) are ours
  // now; XAUTOCLAIM has counted the delivery, which XPENDING then reports.
  void reclaim(Redis& redis, Executor& exec) {
    const std::size_t free = free_slots();
    if (free == 0) return;
    auto reply = redis.call({"XAUTOCLAIM", o_.stream, o_.group, o_.consumer,
                             std::to_string(o_.claim_idle.count()), claim_cursor_, "COUNT",
                             std::to_string(free)});
    if (!reply || reply->type != Reply::Type::kArray || reply->elements.size() < 2) return;
    claim_cursor_ = reply->elements[0].str.empty() ? "0-0" : reply->elements[0].str;
    for (auto& entry : parse_entries(reply->elements[1])) {
      {
        // One of our own, whose heartbeat came late: it runs here already.
        std::lock_guard lock(mutex_);
        if (in_flight_.count(entry.id) != 0) continue;
      }
      auto pending = redis.call({"XPENDING", o_.stream, o_.group, entry.id, entry.id, "1"});
      long long deliveries = 2;
      if (pending && !pending->elements.empty() && pending->elements[0].elements.size() == 4)
        deliveries = pending->elements[0].elements[3].integer;
      log(fmt::format("job {}: reclaimed, delivery {}", entry.id, deliveries));
      if (deliveries > static_cast<long long>(o_.max_attempts)) {
        dead_letter(std::move(entry), deliveries);
        continue;
      }
      start(exec, std::move(entry), deliveries);
    }
  }

  nlohmann::json stamp(nlohmann::json j, const Entry& entry, long long attempt) const {
    j["job"] = entry.id;
    j["worker"] = o_.consumer;
    j["attempt"] = attempt;
    if (const auto* line = entry.field("job")) {
      auto raw = nlohmann::json::parse(*line, nullptr, false);
      if (raw.is_object() && raw.contains("id")) j["id"] = raw["id"];
    }
    return j;
  }

  void dead_letter(Entry entry, long long deliveries) {
    const Error e{ErrorKind::kSystem,
                  fmt::format("job {}: delivered {} times, more than --max-attempts {}: its "
                              "workers died running it; moved to {}dead",
                              entry.id, deliveries, o_.max_attempts, o_.prefix)};
    auto j = stamp(codec_.format(tl::unexpected(e)), entry, deliveries);
    {
      std::lock_guard lock(mutex_);
      in_flight_.emplace(entry.id, InFlight{});
    }
    finish({entry.id, std::move(j), deliveries, true, std::move(entry.fields)});
  }

  void start(Executor& exec, Entry entry, long long attempt) {
    auto fail = [&](const Error& e) {
      {
        std::lock_guard lock(mutex_);
        in_flight_.emplace(entry.id, InFlight{});
      }
      finish(
          {entry.id, stamp(codec_.format(tl::unexpected(e)), entry, attempt), attempt, false, {}});
    };
    const std::string* line = entry.field("job");
    if (line == nullptr)
      return fail(Error{ErrorKind::kInvalidArgument,
                        "the entry has no field \"job\": XADD STREAM * job '<a batch line>'"});
    auto parsed = codec_.parse(*line);
    if (!parsed) return fail(parsed.error());
    auto signals = sys::make_pipe(true);
    if (!signals) return fail(signals.error());
    auto& [script, job] = *parsed;
    job.signal_fd = signals->read.get();
    {
      std::lock_guard lock(mutex_);
      in_flight_.emplace(entry.id, InFlight{std::move(*signals)});
    }
    const std::string id = entry.id;
    auto stamped = stamp(nlohmann::json::object(), entry, attempt);
    exec.submit(std::move(script), std::move(job),
                [this, id, attempt, stamped = std::move(stamped)](Expected<Result> r) {
                  auto j = codec_.format(r);
                  j.update(stamped);
                  finish({id, std::move(j), attempt, false, {}});
                });
  }

  void finish(Finished f) {
    {
      std::lock_guard lock(mutex_);
      finished_.push_back(std::move(f));
    }
    changed_.notify_all();
  }

  void writer_loop(Redis& redis) {
    const auto beat_every = std::max(o_.claim_idle / 3, std::chrono::milliseconds(100));
    auto next_beat = Clock::now() + beat_every;
    std::unique_lock lock(mutex_);
    while (true) {
      changed_.wait_until(lock, next_beat, [this] { return !finished_.empty() || writer_stop_; });
      while (!finished_.empty()) {
        Finished f = std::move(finished_.front());
        finished_.pop_front();
        lock.unlock();
        const bool written = write(redis, f);
        lock.lock();
        // Unwritten (Redis gone for good at shutdown): left pending, to be run again.
        (void)written;
        in_flight_.erase(f.id);
        changed_.notify_all();
      }
      if (writer_stop_) return;
      if (Clock::now() >= next_beat) {
        lock.unlock();
        heartbeat(redis);
        lock.lock();
        next_beat = Clock::now() + beat_every;
      }
    }
  }

  // Resets the idle time of our pending entries whose jobs still run (XCLAIM by their owner
  // with JUSTID does not count a delivery), never taking one another worker has claimed.
  void heartbeat(Redis& redis) {
    std::vector<std::string> ours;
    {
      std::lock_guard lock(mutex_);
      if (in_flight_.empty()) return;
    }
    auto pending = redis.call({"XPENDING", o_.stream, o_.group, "-", "+", "10000", o_.consumer});
    if (!pending || pending->type != Reply::Type::kArray) return;
    {
      std::lock_guard lock(mutex_);
      for (const auto& p : pending->elements)
        if (!p.elements.empty() && in_flight_.count(p.elements[0].str) != 0)
          ours.push_back(p.elements[0].str);
    }
    if (ours.empty()) return;
    std::vector<std::string> argv{"XCLAIM", o_.stream, o_.group, o_.consumer, "0"};
    argv.insert(argv.end(), ours.begin(), ours.end());
    argv.push_back("JUSTID");
    (void)redis.call(argv);
  }

  bool write(Redis& redis, const Finished& f) {
    const std::string json =
        f.result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::string ttl = std::to_string(o_.result_ttl.count());
    auto ok = [&](const Expected<Reply>& r, const char* what) {
      if (!r) {
        log(fmt::format("job {}: {}: {}", f.id, what, r.error().message));
        return false;
      }
      if (r->type == Reply::Type::kError) {
        log(fmt::format("job {}: {}: {}", f.id, what, r->str));
        return false;
      }
      return true;
    };
    auto set = redis.call({"SET", o_.prefix + "result:" + f.id, json, "NX", "EX", ttl});
    if (!ok(set, "SET")) return false;
    const std::string attempt = std::to_string(f.attempt);
    if (set->nil()) {
      // Run again (its first worker lost the entry, then finished anyway): the first result
      // stays; the second run is on record.
      log(fmt::format("job {}: attempt {} finished after a result was written; kept the first",
                      f.id, attempt));
      if (!ok(redis.call({"XADD", o_.prefix + "results", "MAXLEN", "~", "100000", "*", "job", f.id,
                          "duplicate", attempt, "result", json}),
              "XADD"))
        return false;
    } else if (!ok(redis.call({"XADD", o_.prefix + "results", "MAXLEN", "~", "100000", "*", "job",
                               f.id, "result", json}),
                   "XADD")) {
      return false;
    }
    if (f.dead) {
      std::vector<std::string> argv{"XADD", o_.prefix + "dead", "*",    "job",
                                    f.id,   "deliveries",       attempt};
      for (const auto& [k, v] : f.fields) argv.insert(argv.end(), {"field:" + k, v});
      if (!ok(redis.call(argv), "XADD dead")) return false;
    }
    const std::string done = o_.prefix + "done:" + f.id;
    if (!ok(redis.call({"LPUSH", done, attempt}), "LPUSH")) return false;
    if (!ok(redis.call({"EXPIRE", done, ttl}), "EXPIRE")) return false;
    return ok(redis.call({"XACK", o_.stream, o_.group, f.id}), "XACK");
  }

  WorkerOptions o_;
  const JobCodec& codec_;
  std::string claim_cursor_ = "0-0";
  std::atomic<int> signals_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, InFlight> in_flight_;
  std::deque<Finished> finished_;
  bool writer_stop_ = false;
};

}  // namespace

Expected<void> run_worker(const WorkerOptions& options, const ExecutorOptions& executor,
                          const JobCodec& codec, int signal_fd) {
  if (options.concurrency == 0)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, "-j: must be at least 1"});
  if (options.max_attempts == 0)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, "--max-attempts: must be at least 1"});
  if (options.claim_idle < std::chrono::milliseconds(300))
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument, "--claim-idle: must be at least 300ms, e.g. 30s"});
  if (options.result_ttl.count() <= 0)
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument, "--result-ttl: must be at least 1s, e.g. 24h"});
  Worker worker(options, codec);
  return worker.run(executor, signal_fd);
}

}  // namespace ociexec::worker
