#include "container/container.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "bundle/owner.h"
#include "sys/fs.h"
#include "sys/reaper.h"
#include "util/text.h"

namespace ociexec::container {

namespace fs = std::filesystem;

namespace {

// The init the runtime created is our child (we are a subreaper and the runtime has exited).
Expected<sys::ChildProcess> open_init(const fs::path& pid_file) {
  auto init = sys::ChildProcess::adopt_orphan(pid_file);
  if (!init)
    return tl::unexpected(Error{ErrorKind::kRuntimeFailed,
                                fmt::format("open container init: {}", init.error().message)});
  return init;
}

Expected<void> write_bundle(const bundle::Bundle& bundle, const nlohmann::json& spec,
                            std::string_view script, const Request& request) {
  // Replace, not throw: an env value that is not UTF-8 must not become an exception.
  if (auto r =
          bundle.write_config(spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      !r)
    return r;
  if (request.warm_loader)  // the script comes with its job (pool/assign.h)
    return sys::write_new_file(bundle.script_dir() / bundle::kWarmFile, *request.warm_loader, 0444);
  if (!request.init_binary) return bundle.write_script(script);
  // A hard link: one copy of the init serves every container (same file system).
  if (auto r = sys::hard_link(*request.init_binary, bundle.script_dir() / bundle::kInitFile); !r)
    return tl::unexpected(r.error().with_context("the init"));
  if (request.job_file) {
    if (auto r = bundle.write_script(script); !r) return r;
    if (auto r = sys::write_new_file(bundle.script_dir() / bundle::kJobFile, *request.job_file, 0444);
        !r)
      return tl::unexpected(r.error().with_context("write the job file"));
  }
  return {};
}

// Our end as `read`, the init's (its fd 3) as `write`.
Expected<sys::Pipe> status_channel(bool both_ways) {
  if (!both_ways) return sys::make_pipe(true);
  auto pair = sys::make_message_sockets();
  if (!pair) return tl::unexpected(pair.error());
  return sys::Pipe{std::move(pair->ours), std::move(pair->theirs)};
}

// A runtime that ran out of space in its state says so in its own words ("unable to store
// init state", "Operation canceled"); name the likely cause and its fix.
Error explain_if_full(Error e, const std::filesystem::path& state) {
  constexpr std::uint64_t kLow = 1 << 20;
  auto free = sys::free_bytes(state);
  if (!free || *free >= kLow || e.message.find("No space left on device") != std::string::npos)
    return e;
  e.message += fmt::format(
      " (likely cause: No space left on device in {}, {} KiB free; free space there or set "
      "state_dir to another file system)",
      state.string(), *free / 1024);
  return e;
}

}  // namespace

Container::Container(std::string id, bundle::Bundle bundle, const Request& request)
    : id_(std::move(id)),
      bundle_(std::move(bundle)),
      client_(request.client),
      cgroup_(*request.layout, request.cgroup_parent, id_),
      created_at_(std::chrono::steady_clock::now()),
      user_ns_(request.spec.user_namespace.has_value()),
      hooks_(!request.spec.devices.hooks.empty()) {}

Expected<std::unique_ptr<Container>> Container::create(const Request& request,
                                                      std::string_view script,
                                                      std::string_view stdin_data) {
  const std::string id = bundle::new_container_id();
  auto bundle = bundle::Bundle::create(request.bundles_dir, id);
  if (!bundle) return tl::unexpected(bundle.error());
  std::unique_ptr<Container> c(new Container(id, std::move(*bundle), request));

  spec::SpecInput in = request.spec;
  // One namespace for the root's mount and the create, if the executor replaces it between.
  const runtime::MountNs mount_ns = request.client->mount_ns();
  if (!request.image_layers.empty()) {
    if (auto r = c->bundle_.mount_image_root(request.image_layers, in.tmpfs_bytes, mount_ns); !r)
      return tl::unexpected(r.error());
    in.rootfs_path = c->bundle_.rootfs_dir().string();
    in.root_writable = true;
    c->rootfs_hold_ = request.rootfs_hold;
  }
  in.readonly_binds.push_back(
      {c->bundle_.script_dir().string(), std::string(bundle::kScriptDirInContainer)});
  if (request.network) {
    auto binds = write_network_files(c->bundle_.dir(), *request.network);
    if (!binds) return tl::unexpected(binds.error().with_context("network private"));
    in.readonly_binds.insert(in.readonly_binds.end(), binds->begin(), binds->end());
  }
  if (request.hold_namespaces && in.user_namespace) {
    // The network namespace too for pasta; else the runtime's own, with its loopback up.
    auto held =
        sys::HeldNamespaces::create(in.user_namespace->uid_map(), in.user_namespace->gid_map(),
                                    request.network.has_value(), *request.hold_namespaces);
    if (!held) return tl::unexpected(held.error());
    c->held_ = std::move(*held);
    in.namespace_paths = {{"user", c->held_.ns_path("user")}, {"mount", c->held_.ns_path("mnt")}};
    if (request.network) in.namespace_paths["network"] = c->held_.ns_path("net");
  }
  if (!request.own_cgroup) in.cgroups_path = c->cgroup_.spec_path();
  const auto& owner = bundle::Owner::self();
  in.annotations = {{"org.ociexec.owner.pid", std::to_string(owner.pid)},
                    {"org.ociexec.owner.start-time", std::to_string(owner.start_time)},
                    {"org.ociexec.container-id", id}};
  auto spec = spec::build_spec(in);
  if (!spec) return tl::unexpected(spec.error());
  std::optional<std::string> seccomp_to_learn;
  if (request.seccomp_program) {
    (*spec)["annotations"][runtime::kSeccompBpfAnnotation] =
        text::base64_encode(*request.seccomp_program);
    (*spec)["linux"].erase("seccomp");
  } else {
    seccomp_to_learn = c->client_->prepare_spec(*spec);
  }
  if (auto r = write_bundle(c->bundle_, *spec, script, request); !r)
    return tl::unexpected(r.error());

  // The job's stdio: stdin is a memfd (the job reads at its own pace, we never block
  // writing), stdout and stderr are pipes read in the poll loop.
  auto in_fd = sys::make_memfd("ociexec-stdin", stdin_data);
  if (!in_fd) return tl::unexpected(in_fd.error().with_context("stdin"));
  auto out = sys::make_pipe(true, 1 << 20);
  if (!out) return tl::unexpected(out.error().with_context("stdout"));
  auto err = sys::make_pipe(true, 1 << 20);
  if (!err) return tl::unexpected(err.error().with_context("stderr"));
  // The init's status: a pipe it writes; a socket both ways for a warm interpreter.
  std::optional<sys::Pipe> status;
  if (request.init_binary || request.warm_loader) {
    auto p = status_channel(request.warm_loader.has_value());
    if (!p) return tl::unexpected(p.error().with_context("exec status"));
    status = std::move(*p);
  }
  const runtime::StdioFds stdio{*in_fd, out->write, err->write,
                                status ? sys::FdRef(status->write) : sys::FdRef()};
  auto created =
      c->client_->create(id, c->bundle_.dir(), c->bundle_.pid_file(), c->bundle_.log_file(), stdio,
                         out->read, err->read, mount_ns, seccomp_to_learn);
  // Only the init's copies of the write ends may remain: ours would keep EOF away.
  out->write.reset();
  err->write.reset();
  if (status) status->write.reset();
  c->stdin_ = std::move(*in_fd);
  c->stdout_ = std::move(out->read);
  c->stderr_ = std::move(err->read);
  if (status) c->exec_status_ = std::move(status->read);
  if (!created) return tl::unexpected(explain_if_full(created.error(), request.bundles_dir));
  auto init = open_init(c->bundle_.pid_file());
  if (!init) return tl::unexpected(init.error());
  c->init_ = std::move(*init);
  if (request.own_cgroup && !request.layout->hierarchies.empty())
    if (auto r = c->cgroup_.adopt(c->init_.pidfd().pid(), *request.own_cgroup); !r)
      return tl::unexpected(r.error().with_context("delegated cgroup"));
  if (request.network) {
    const bool held = c->held_.held();
    auto net = PrivateNetwork::start(*request.network,
                                     held ? c->held_.pidfd().pid() : c->init_.pidfd().pid(), held,
                                     c->bundle_.dir());
    if (!net) return tl::unexpected(net.error());
    c->network_ = std::move(*net);
  }
  return c;
}

Container::~Container() {
  if (removed_) return;
  const bool deleted = client_->remove(id_, bundle_.log_file()).has_value();  // kills the rest
  const bool cgroup_gone = cgroup_.remove().has_value();
  // A create that failed or timed out after forking the init leaves it reparented to us (a
  // subreaper) with nobody to reap it; adopt it if it is still our child, to kill and reap.
  if (!init_.pidfd().valid()) (void)open_init(bundle_.pid_file());
  init_.kill_and_reap();
  // A runtime killed half-way through create leaves state it cannot read back (no state.json
  // yet), so its delete fails; with the cgroup gone and the init reaped, that state is only
  // files.
  if (!deleted && cgroup_gone) (void)client_->forget(id_);
}

Expected<void> Container::set_stdin(std::string_view data) const {
  // The init shares this open file (and its offset, still 0): pwrite leaves the offset alone.
  if (auto r = sys::pwrite_all(stdin_, data); !r)
    return tl::unexpected(r.error().with_context("stdin"));
  return {};
}

tl::expected<std::vector<sys::UniqueFd>, sys::TreeWriteFailure> Container::open_trees(
    sys::TreeWriteRequest request) const {
  // The holder of the job's namespaces where there is one (rootless): its init may not be
  // joined (sys/user_ns.h). Rootless, the job's ids and its tmpfs belong to its user
  // namespace: joined first, it gives the writer the right to make files there and hand them
  // to the job's user.
  request.pidfd = held_.held() ? held_.pidfd().fd() : init_.pidfd().fd();
  request.ns_flags = CLONE_NEWNS | (user_ns_ ? CLONE_NEWUSER : 0);
  return sys::write_tree(request);
}

Expected<void> Container::start_ahead(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (auto r = client_->start(id_, bundle_.log_file(), init_.pidfd(), hooks_); !r)
    return tl::unexpected(r.error());
  auto ready = sys::read_message(exec_status_, 16, deadline);
  // What it wrote says why (a traceback's last line); nothing may wait there for the job.
  std::string said = sys::read_once(stderr_, 4096);
  if (said.empty()) said = sys::read_once(stdout_, 4096);
  const auto trimmed = text::trim(said);
  const auto last_line = trimmed.substr(trimmed.rfind('\n') + 1);
  if (ready && *ready == "R" && said.empty()) {
    started_ahead_ = true;
    return {};
  }
  const std::string why = !ready           ? ready.error().message
                          : ready->empty() ? "it exited"
                                           : "it wrote output before its job";
  return tl::unexpected(
      Error{ErrorKind::kRuntimeFailed,
            fmt::format("warm interpreter {}: not ready ({}){}{}", id_, why,
                        last_line.empty() ? "" : ": ", text::one_line(last_line))});
}

bool Container::waiting_ahead() const {
  return started_ahead_ && !sys::readable_now(exec_status_);
}

Expected<supervise::Clock::time_point> Container::start() {
  const auto started = supervise::Clock::now();
  if (started_ahead_) {
    // The CPU time the interpreter spent starting is not the job's.
    cpu_before_start_ = cgroup_.cpu_time().value_or(std::chrono::nanoseconds{0});
    if (auto r = sys::send_message(exec_status_, "G"); !r)
      return tl::unexpected(Error{ErrorKind::kRuntimeFailed,
                                  fmt::format("warm interpreter {}: {}", id_, r.error().message)});
    stdin_.reset();
    return started;
  }
  if (auto r = client_->start(id_, bundle_.log_file(), init_.pidfd(), hooks_); !r)
    return tl::unexpected(r.error());
  stdin_.reset();  // the init has its own
  return started;
}

Expected<supervise::Output> Container::supervise(const JobPlan& plan,
                                                 supervise::Clock::time_point started,
                                                 supervise::OutputRelay* relay) {
  supervise::Input in;
  in.relay = relay;
  in.stdout_fd = std::move(stdout_);
  in.stderr_fd = std::move(stderr_);
  in.deadline = started + plan.limits.timeout;
  in.grace = plan.limits.grace;
  in.output_cap = plan.limits.output_cap;
  in.signal_fd = plan.signal_fd;
  in.kill_wait = plan.kill_wait;
  in.cpu_time_limit = plan.cpu_time_limit;
  in.cpu_time_used = [this] { return since_start(cgroup_.cpu_time()); };
  in.cpu_parallelism = plan.cpu_parallelism;
  const sys::Pidfd& init_pidfd = init_.pidfd();
  in.signal_job = [this, &init_pidfd, with_init = plan.init](int sig) {
    // ociexec-init passes every signal on to the rest of the job itself.
    if (with_init && sig != SIGKILL) {
      (void)init_pidfd.send_signal(sig);
      return;
    }
    // The init first: its death takes its whole pid namespace with it (the kernel SIGKILLs
    // every process in it before the init's exit is reported). Then every process in the
    // cgroup, for anything that is not in that namespace; for a SIGKILL that reached the
    // init, that sweep is left to the cgroup's removal (which kills whatever is still in
    // it): on v1 it costs a pidfd and a /proc read per process, about 3 ms for 100 of them,
    // all of it between the deadline and the result.
    const bool reached_init = init_pidfd.send_signal(sig).has_value();
    if (sig == SIGKILL && reached_init && !cgroup_.kills_atomically()) return;
    if (cgroup_.signal_all(sig) > 0) return;
    // No cgroup lists the job's processes (rootless without a delegated one): they are the
    // init's descendants, orphans included, which its pid namespace reparents to it.
    for (const auto& p : sys::descendants_of(init_pidfd)) (void)p.send_signal(sig);
  };
  return supervise::supervise(init_, std::move(in));
}

std::optional<std::chrono::nanoseconds> Container::since_start(
    std::optional<std::chrono::nanoseconds> cpu_time) const {
  if (cpu_time) *cpu_time -= std::min(*cpu_time, cpu_before_start_);
  return cpu_time;
}

cgroup::Stats Container::read_stats() const {
  cgroup::Stats stats = cgroup_.read_stats();
  stats.cpu_time = since_start(stats.cpu_time);
  return stats;
}

void Container::abandon() noexcept {
  removed_ = true;
  bundle::mark_abandoned(id_);
  sys::Reaper::instance().adopt(init_.release());
}

void Container::discard() noexcept {
  init_.kill_and_reap();
  (void)remove();
}

Expected<void> Container::remove() {
  removed_ = true;
  // The cgroup first (which also kills anything that is somehow still in it), then the
  // runtime's state, then the bundle.
  auto cgroup_removed = cgroup_.remove();
  auto deleted = client_->remove_stopped(id_, bundle_.log_file(), hooks_);
  if (!cgroup_removed) {
    (void)client_->remove(id_, bundle_.log_file());
    return tl::unexpected(cgroup_removed.error().with_context("remove cgroup"));
  }
  if (!deleted) return tl::unexpected(deleted.error().with_context("delete container"));
  if (auto r = network_.stop(); !r) return tl::unexpected(r.error().with_context("network"));
  held_ = sys::HeldNamespaces{};  // the job's mounts go with the last process in them
  if (auto r = bundle_.remove(); !r) return tl::unexpected(r.error().with_context("remove bundle"));
  return {};
}

}  // namespace ociexec::container
