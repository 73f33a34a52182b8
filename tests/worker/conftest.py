"""A real redis-server on 127.0.0.1 (own port, own dir, AOF on) and `ociexec worker`
processes for the worker tests. Nothing leaves the loopback."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

CLI = os.environ.get("OCIEXEC_TEST_CLI", "")
ROOTFS = os.environ.get("OCIEXEC_TEST_ROOTFS", "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class Cluster:
    """Workers sharing one Redis; each in its own state dir and cgroup parent."""

    def __init__(self, tmp, server):
        self.tmp = tmp
        self.server = server
        self.client = redis.Redis(port=server.port, decode_responses=True)
        self.workers = {}

    def config(self, name):
        path = os.path.join(self.tmp, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(f"state_dir: {self.tmp}/state-{name}\n"
                    f"cgroup_parent: ociexec-worker-test-{os.getpid()}-{name}\n"
                    f"rootfs: {ROOTFS}\nruntime: runc\n")
        return path

    def start(self, name, *args):
        log = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        proc = subprocess.Popen(
            [CLI, "--config", self.config(name), "worker", "--redis", self.server.url,
             "--consumer", name, *args],
            stdout=log, stderr=log)
        self.workers[name] = proc
        return proc

    def log(self, name):
        with open(os.path.join(self.tmp, f"{name}.log"), errors="replace") as f:
            return f.read()

    def submit(self, script, **keys):
        line = json.dumps({"script": script, **keys})
        return self.client.xadd("ociexec:jobs", {"job": line})

    def result(self, job, timeout=60):
        popped = self.client.blpop(f"ociexec:done:{job}", timeout=timeout)
        assert popped, f"job {job}: no result within {timeout}s"
        return json.loads(self.client.get(f"ociexec:result:{job}"))

    def stop_all(self):
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.workers.items():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Every worker cleaned up after its jobs: nothing left in its state dir.
        for name in self.workers:
            state = os.path.join(self.tmp, f"state-{name}")
            gc = subprocess.run([CLI, "--config", self.config(name), "gc"], capture_output=True,
                                text=True, timeout=60)
            assert "removed 0 container(s)" in gc.stdout, (name, gc.stdout, gc.stderr)
            bundles = os.path.join(state, "bundles")
            assert not os.path.isdir(bundles) or not os.listdir(bundles), name


@pytest.fixture
def cluster():
    if not CLI or not ROOTFS or not shutil.which("redis-server"):
        if os.environ.get("CI") == "true":
            pytest.fail("worker tests need OCIEXEC_TEST_CLI, OCIEXEC_TEST_ROOTFS and redis-server")
        pytest.skip("needs OCIEXEC_TEST_CLI, OCIEXEC_TEST_ROOTFS and redis-server")
    if os.geteuid() != 0:
        pytest.skip("the worker tests run jobs as root")
    tmp = tempfile.mkdtemp(prefix="ociexec-worker-test-")
    server = RedisServer(tmp)
    c = Cluster(tmp, server)
    try:
        yield c
        c.stop_all()
    finally:
        for proc in c.workers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
