// Jobs on an image (issue 3), through the library: pulled in-process from an OCI layout (the
// busybox+payload test rootfs, built with umoci by tests/images/make-images.sh), run with the
// runtime under test, cold or pooled. The registry side is tested in tests/images/.
#include <unistd.h>

#include <filesystem>

#include "harness.h"
#include "sys/fs.h"
#include "sys/process.h"

namespace ociexec::test {

namespace {

// "oci:<cache>/busybox:bb", built once per build dir.
std::string busybox_layout() {
  static const std::string ref = [] {
    auto out = sys::run_command({OCIEXEC_IMAGE_SCRIPT, OCIEXEC_IMAGE_CACHE, OCIEXEC_TEST_ROOTFS,
                                 "busybox"},
                                std::chrono::seconds(120));
    REQUIRE(out);
    INFO(out->output);
    REQUIRE(out->status.shell_code() == 0);
    return std::string("oci:") + OCIEXEC_IMAGE_CACHE + "/busybox:bb";
  }();
  return ref;
}

ExecutorOptions image_executor_options() {
  ExecutorOptions o = Env::get().executor_options();
  o.images.store = Env::get().state_dir / "images";
  return o;
}

}  // namespace

TEST_CASE("images: each job gets a fresh writable overlay root with the image's config") {
  LeakCheck leaks;
  {
    auto exec = Executor::create(image_executor_options());
    REQUIRE(exec);
    JobOptions j = job();
    j.rootfs.reset();
    const std::string ref = busybox_layout();
    j.image = ref;
    auto pulled = pull_image(ref, exec->options().images);
    REQUIRE_MESSAGE(pulled, (pulled ? "" : pulled.error().message));
    CHECK(pulled->image.layers == 1);
    j.pull = PullPolicy::kNever;
    if (::geteuid() != 0) {
      // Rootless: the layers flattened into one directory, run read-only, with the image's
      // config; /tmp and the work dir are the writable tmpfs mounts.
      auto r = exec->run("pwd; echo $IMAGE_VAR; touch /x 2>&1 | grep -c Read-only; echo t > /tmp/t && cat /tmp/t; id -u", j);
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
      // The image's User (1234) where subordinate ids map it, else the namespace's one id.
      const std::string uid = job_uid() == 65534 ? "1234" : "0";
      CHECK(r->stdout_data == "/srv\nfrom-image\n1\nt\n" + uid + "\n");
      auto again = pull_image(ref, exec->options().images);
      REQUIRE(again);
      CHECK(again->layers_fetched == 0);
      return;
    }
    // The image's User (1234:42), WorkingDir (/srv) and Env.
    auto r = exec->run("id -u; id -g; pwd; echo $IMAGE_VAR; touch /srv/x 2>&1 | grep -c denied", j);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->stdout_data == "1234\n42\n/srv\nfrom-image\n1\n");
    // Root writes to /, visible in its own job only.
    j.user = "0";
    auto first = exec->run("echo one > /etc/marker && cat /etc/marker", j);
    REQUIRE(first);
    CHECK(first->stdout_data == "one\n");
    auto second = exec->run("cat /etc/marker 2>&1; echo $IMAGE_VAR", j);
    REQUIRE(second);
    CHECK(second->stdout_data.find("No such file") != std::string::npos);
    // Root inside cannot touch the shared layers: overwrites and deletions stay in its upper dir.
    const auto passwd = sys::read_file(Env::get().rootfs / "etc/passwd");
    REQUIRE(passwd);
    auto vandal = exec->run("echo pwned > /etc/passwd && rm /bin/payload && echo done", j);
    REQUIRE(vandal);
    CHECK(vandal->stdout_data == "done\n");
    std::size_t layers_checked = 0;
    for (const auto& layer : std::filesystem::directory_iterator(
             exec->options().images.store / "layers" / "sha256")) {
      CHECK(sys::read_file(layer.path() / "etc/passwd").value_or("") == *passwd);
      CHECK(std::filesystem::exists(layer.path() / "bin/payload"));
      ++layers_checked;
    }
    CHECK(layers_checked == 1);
    auto after = exec->run("cat /etc/passwd; test -x /bin/payload && echo payload", j);
    REQUIRE(after);
    CHECK(after->stdout_data == *passwd + "payload\n");
    // The job's env wins over the image's; its workdir over the image's WorkingDir.
    j.env = {"IMAGE_VAR=mine"};
    j.workdir = "/job";
    auto own = exec->run("echo $IMAGE_VAR; pwd", j);
    REQUIRE(own);
    CHECK(own->stdout_data == "mine\n/job\n");
    // A warm-pool container on an image: created ahead with the overlay root, used once.
    if (Env::get().pool) {
      REQUIRE(exec->prewarm(j, std::chrono::seconds(10)));
      auto pooled = exec->run("echo $IMAGE_VAR; cat /etc/marker 2>/dev/null; id -u", j);
      REQUIRE(pooled);
      CHECK(pooled->pooled);
      CHECK(pooled->stdout_data == "mine\n0\n");
    }
    // The deadline holds on an image root as on any other.
    j.timeout = std::chrono::milliseconds(500);
    auto late = exec->run("sleep 30", j);
    REQUIRE(late);
    CHECK(late->outcome == Outcome::kTimedOut);
    CHECK(late->exit_code == -1);
  }
  leaks.check();
}

TEST_CASE("images: a missing image with pull never, and image with rootfs, are clear errors") {
  LeakCheck leaks;
  {
    auto exec = Executor::create(image_executor_options());
    REQUIRE(exec);
    JobOptions j = job();
    j.rootfs.reset();
    j.image = "127.0.0.1:1/never/pulled:1";
    j.pull = PullPolicy::kNever;
    auto missing = exec->run("true", j);
    REQUIRE_FALSE(missing);
    if (::geteuid() == 0) {
      CHECK(missing.error().kind == ErrorKind::kImageNotFound);
      CHECK(missing.error().message.find("pull it first") != std::string::npos);
    }
    j.rootfs = Env::get().rootfs;
    auto both = exec->run("true", j);
    REQUIRE_FALSE(both);
    CHECK(both.error().kind == ErrorKind::kInvalidArgument);
    CHECK(both.error().message.rfind("image and rootfs: give one of them", 0) == 0);
  }
  leaks.check();
}

}  // namespace ociexec::test
