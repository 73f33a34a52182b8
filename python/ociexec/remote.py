"""Jobs run by ``ociexec worker`` processes on other hosts, through Redis Streams
(docs/scale-out.md), with the local API's contract::

    from ociexec.remote import Client
    client = Client("redis://redis.internal:6379")   # password: OCIEXEC_REDIS_PASSWORD
    exit_code, stdout, stderr = client.execute_script("echo hi", timeout_seconds=300)
    future = client.submit("sleep 1; echo done")      # concurrent.futures.Future
    print(future.result().stdout)

Keyword options are the local ones (see ``ociexec``), sent as the job's batch line; those
that name paths on this host (``copy_in``, ``env_file``) or call back into it
(``on_output``) are refused, since the job runs on a worker's host. Needs ``python3-redis``.
"""
import base64
import concurrent.futures
import json
import os
import threading

from . import DEFAULT_TIMEOUT_SECONDS, ExecutorError, InvalidOptionError

_LOCAL_ONLY = {
    "copy_in": "copy_in names paths on this host; send the bytes with files= instead",
    "env_file": "env_file names a file on this host; pass env= instead",
    "on_output": "on_output is called as the job writes, which a remote job cannot do",
}
_SAME = ("memory", "cpus", "cpuset_cpus", "tmpfs_size", "output_cap", "interpreter", "rootfs",
         "image", "pull", "user", "runtime", "workdir", "network", "volume", "mount", "tmpfs",
         "devices", "gpus",
         "copy_out", "copy_out_file_cap", "copy_out_cap", "args", "init",
         "allow_unenforced_limits")


def _unlimited(value):
    return "unlimited" if value is None else value


def batch_line(script, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, **options):
    """The job as one batch line (a dict), as ``ociexec submit`` and the worker read it."""
    line = {"script": script}
    if timeout_seconds is not None:
        line["timeout"] = timeout_seconds
    for key, value in options.items():
        if key in _LOCAL_ONLY:
            raise InvalidOptionError(f"{key}: {_LOCAL_ONLY[key]}")
        if key in _SAME:
            if key == "interpreter" and not isinstance(value, str):
                value = " ".join(value)
            line[key] = _unlimited(value) if key == "memory" else value
        elif key == "grace_seconds":
            line["grace"] = value
        elif key == "cpu_time_seconds":
            if value is not None:
                line["cpu_time"] = value
        elif key in ("pids_limit", "pids"):
            line["pids_limit"] = _unlimited(value)
        elif key == "env":
            line["env"] = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) \
                else list(value)
        elif key == "stdin":
            line["stdin"] = value.decode() if isinstance(value, bytes) else value
        elif key == "files":
            line["files"] = {
                path: ({"base64": base64.b64encode(data).decode()} if isinstance(data, bytes)
                       else data) for path, data in value.items()}
        elif key == "ulimit":
            if isinstance(value, dict):
                value = [f"{name}={_limit_text(v)}" for name, v in value.items()]
            line["ulimit"] = value
        else:
            raise InvalidOptionError(f"{key}: not a job option")
    return line


def _limit_text(v):
    def one(x):
        return "-1" if x is None else str(x)
    return f"{one(v[0])}:{one(v[1])}" if isinstance(v, (tuple, list)) else one(v)


class RemoteFile:
    """A copied-out file of a remote job: as ``ociexec.CopiedFile``."""

    def __init__(self, j):
        self.data = base64.b64decode(j.get("base64", "")) if "base64" in j else b""
        self.truncated = bool(j.get("truncated", False))
        self.error = j.get("error")
        self.mode = j.get("mode", 0)

    def __bytes__(self):
        return self.data


class RemoteResult:
    """A remote job's result, with the local Result's fields, and where it ran."""

    def __init__(self, j):
        self.raw = j
        self.exit_code = j["exit_code"]
        self.stdout = j["stdout"]
        self.stderr = j["stderr"]
        self.stdout_bytes = self.stdout.encode()
        self.stderr_bytes = self.stderr.encode()
        self.outcome = j["outcome"]
        self.signal = j.get("signal")
        self.wall_time = j["wall_time_ms"] / 1000
        self.cpu_time = None if j.get("cpu_time_ms") is None else j["cpu_time_ms"] / 1000
        self.peak_memory = j.get("peak_memory_bytes")
        self.stdout_truncated = j["stdout_truncated"]
        self.stderr_truncated = j["stderr_truncated"]
        self.runtime = {"name": j["runtime"]["name"], "version": j["runtime"]["version"]}
        self.container_id = j["container_id"]
        self.pooled = j["pooled"]
        self.warnings = j["warnings"]
        self.limits = j["limits"]
        self.files = {path: RemoteFile(f) for path, f in j.get("files", {}).items()}
        self.job = j["job"]          # the stream entry's id
        self.worker = j["worker"]    # the consumer that ran it
        self.attempt = j["attempt"]  # 1, or more where a worker died running it

    def __iter__(self):
        return iter((self.exit_code, self.stdout, self.stderr))


def _error(j):
    e = j["error"]
    cls = InvalidOptionError if e.get("kind") == "invalid_argument" else ExecutorError
    err = cls(e.get("message", "remote job failed"))
    err.kind = e.get("kind", "system")
    return err


class Client:
    """Submits jobs to the workers reading ``stream`` and waits for their results."""

    def __init__(self, url="redis://127.0.0.1:6379", stream="ociexec:jobs", prefix="ociexec:",
                 password=None):
        import redis  # python3-redis; only this module needs it
        self._redis = redis.Redis.from_url(
            url, password=password or os.environ.get("OCIEXEC_REDIS_PASSWORD"),
            decode_responses=True)
        self._url = url
        self._password = password
        self.stream = stream
        self.prefix = prefix

    def enqueue(self, script, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, **options):
        """Adds the job to the stream; returns its id (the entry's)."""
        line = json.dumps(batch_line(script, timeout_seconds, **options))
        return self._redis.xadd(self.stream, {"job": line})

    def wait(self, job, timeout=None):
        """The job's RemoteResult once a worker wrote it (raises ExecutorError for a job that
        could not run, TimeoutError after ``timeout`` seconds)."""
        popped = self._redis.blpop(f"{self.prefix}done:{job}", timeout=timeout or 0)
        if popped is None:
            raise TimeoutError(f"job {job}: no result within {timeout}s (it stays queued)")
        j = json.loads(self._redis.get(f"{self.prefix}result:{job}"))
        if "error" in j:
            raise _error(j)
        return RemoteResult(j)

    def run(self, script, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, **options):
        return self.wait(self.enqueue(script, timeout_seconds, **options))

    def execute_script(self, script, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, **options):
        """The contract: (exit_code, stdout, stderr); -1 and "Execution timeout (Ns)" at the
        end of stderr on timeout."""
        r = self.run(script, timeout_seconds, **options)
        return r.exit_code, r.stdout, r.stderr

    def submit(self, script, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, **options):
        """Enqueues now; returns a Future of the RemoteResult, waited for on a thread of its
        own (with a connection of its own: a blocking wait holds one)."""
        job = self.enqueue(script, timeout_seconds, **options)
        future = concurrent.futures.Future()
        waiter = Client(self._url, self.stream, self.prefix, self._password)

        def wait():
            try:
                future.set_result(waiter.wait(job))
            except BaseException as e:  # noqa: BLE001 - handed to the future's owner
                future.set_exception(e)

        threading.Thread(target=wait, daemon=True, name=f"ociexec-remote-{job}").start()
        return future
