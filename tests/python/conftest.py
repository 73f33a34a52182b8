"""Shared set-up for the Python tests: a private state dir and cgroup parent for the tests
that use their own Executor, the busybox+payload rootfs built by CMake, and a check after
every test that nothing was left behind (bundles, runtime state, cgroups, child processes,
fds), in the private state dir and in the default executor's /run/ociexec alike.

Jobs need root and a runtime. Where one is missing the tests are skipped with the reason,
except under CI=true, where a missing prerequisite fails the run."""

import os
import shutil
import sys
import tempfile

import pytest

import ociexec

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from cgroup_mounts import cgroup_mounts  # noqa: E402

ROOTFS = os.environ.get("OCIEXEC_TEST_ROOTFS", "")
RUNTIME = os.environ.get("OCIEXEC_TEST_RUNTIME", "runc")
CGROUP_PARENT = f"ociexec-pytest-{os.getpid()}"
OWNED_PREFIX = f"ociexec-{os.getpid()}-"  # ids of containers this process created


def _missing_prerequisite():
    if os.geteuid() != 0:
        return "the Python tests run jobs and need root"
    if not shutil.which(RUNTIME):
        return f"runtime {RUNTIME} is not installed (run scripts/install-deps.sh)"
    if not os.access(os.path.join(ROOTFS, "bin/payload"), os.X_OK):
        return "the test rootfs is missing: run the tests through ctest (scripts/test.sh)"
    return None


def pytest_collection_modifyitems(config, items):
    why = _missing_prerequisite()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.exit(f"CI needs every prerequisite: {why}", returncode=1)
    for item in items:
        item.add_marker(pytest.mark.skip(reason=why))


def _owned_entries(directory):
    try:
        return [e for e in os.listdir(directory) if e.startswith(OWNED_PREFIX)]
    except FileNotFoundError:
        return []


def _children():
    me = str(os.getpid())
    kids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    kids.append(int(pid))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return kids


def _fd_count():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="session")
def state_dir():
    path = tempfile.mkdtemp(prefix="ociexec-pytest-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def executor(state_dir):
    """An executor of our own, on the busybox+payload rootfs."""
    return ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=CGROUP_PARENT,
                            rootfs=ROOTFS)


@pytest.fixture(scope="session")
def warm_executors(executor):
    """A first job on each long-lived executor (the session's and execute_script's), so the
    cgroup parent each keeps open from its first job is not counted as a leaked fd."""
    executor.run("true")
    ociexec.execute_script("true")


@pytest.fixture(autouse=True)
def nothing_left_behind(state_dir, warm_executors):
    fds = _fd_count()
    yield
    for root in (state_dir, "/run/ociexec"):
        assert _owned_entries(os.path.join(root, "bundles")) == [], "bundle dirs left behind"
        runtimes = os.path.join(root, "runtime")
        for name in os.listdir(runtimes) if os.path.isdir(runtimes) else []:
            path = os.path.join(runtimes, name)
            if os.path.isdir(path):
                assert _owned_entries(path) == [], f"{name} container state left behind"
    for mount in cgroup_mounts():
        for parent in (CGROUP_PARENT, "ociexec"):
            path = os.path.join(mount, parent)
            assert _owned_entries(path) == [], "cgroups left behind"
            # The parent itself is kept while an executor lives: test_options.py checks that
            # the last executor out removes it.
    assert _children() == [], "child processes left behind"
    assert _fd_count() == fds, "fds leaked"
