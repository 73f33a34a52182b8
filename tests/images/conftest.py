"""Set-up for the image tests: the ociexec command (static, pulling through ociexec-fetch),
images built locally (a busybox+payload rootfs with umoci, a debootstrap'd Debian with
python3-minimal, cached in the build dir), Debian's docker-registry started on a free
loopback port, and after every test the check that nothing was left behind: no bundle,
mount, job cgroup, runtime state, or half-written store entry.

These tests need root, runc, crun, umoci, skopeo, docker-registry and debootstrap (all
installed by scripts/install-deps.sh). Where one is missing they are skipped with the
reason, except under CI=true, where that fails the run."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from cgroup_mounts import cgroup_mounts  # noqa: E402
from local_registry import Registry  # noqa: E402

CLI = os.environ.get("OCIEXEC_TEST_CLI", "")
ROOTFS = os.environ.get("OCIEXEC_TEST_ROOTFS", "")
CACHE = os.environ.get("OCIEXEC_TEST_IMAGE_CACHE", "")
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = ["runc", "crun", "umoci", "skopeo", "docker-registry", "debootstrap", "htpasswd",
         "openssl", "zstd"]


def _missing_prerequisite():
    if os.geteuid() != 0:
        return "the image tests mount overlays and need root"
    for tool in TOOLS:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed (run scripts/install-deps.sh)"
    if not os.access(CLI, os.X_OK) or not os.access(os.path.join(ROOTFS, "bin/payload"), os.X_OK):
        return "the build is missing: run the tests through ctest (scripts/test.sh)"
    return None


def pytest_collection_modifyitems(config, items):
    why = _missing_prerequisite()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.exit(f"CI needs every prerequisite: {why}", returncode=1)
    for item in items:
        item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def images():
    """OCI layouts: 'busybox' (umoci, from the test rootfs) and 'debian' (python3-minimal)."""
    out = subprocess.run([os.path.join(HERE, "make-images.sh"), CACHE, ROOTFS],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return {"busybox": f"oci:{CACHE}/busybox:bb", "debian": f"oci:{CACHE}/debian:python",
            "dir": CACHE}


@pytest.fixture
def registry(tmp_path):
    root = tmp_path / "registry"
    root.mkdir()
    r = Registry(str(root))
    yield r
    r.stop()


@pytest.fixture
def ociexec(tmp_path):
    """Runs the command with a private state dir and image store; returns CompletedProcess."""
    state = tmp_path / "state"
    store = tmp_path / "store"

    def run(*args, input=None, check=None):
        words = 2 if args[0] == "image" else 1  # "image prune"
        cmd = [CLI, "--state-dir", str(state)] + list(args[:words]) + \
            ["--image-store", str(store)] + list(args[words:])
        p = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=300)
        if check is not None:
            assert p.returncode == check, f"{cmd}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    run.store = store
    run.state = state
    yield run
    assert_nothing_left(state, store)


def _mounts():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def assert_nothing_left(state, store):
    left = []
    bundles = state / "bundles"
    if bundles.exists():
        left += [f"bundle {e}" for e in os.listdir(bundles)]
    left += [f"mount {m}" for m in _mounts() if m.startswith(str(state)) or m.startswith(str(store))]
    for rt in ("runc", "crun"):
        d = state / "runtime" / rt
        if d.exists():
            left += [f"{rt} state {e}" for e in os.listdir(d) if e.startswith("ociexec-")]
    for mount in cgroup_mounts():
        parent = os.path.join(mount, "ociexec")
        if os.path.isdir(parent):
            left += [f"cgroup {parent}/{e}" for e in os.listdir(parent) if e.startswith("ociexec-")]
    tmp = store / "tmp"
    if tmp.exists():
        left += [f"store tmp/{e}" for e in os.listdir(tmp)]
    assert not left, f"left behind: {left}"
