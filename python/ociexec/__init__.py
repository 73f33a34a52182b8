"""ociexec: run scripts in OCI containers (runc/crun) without a daemon.

The drop-in contract of the executors built on the Docker daemon::

    from ociexec import execute_script
    exit_code, stdout, stderr = execute_script("echo hi", timeout_seconds=300)

Past the timeout the whole container is SIGKILLed and removed: ``exit_code`` is -1 and
``stderr`` ends with a line that starts ``Execution timeout (Ns)``. Nothing is left behind.

Jobs need root. The first executor makes this process a child subreaper (as conmon does), so
that container inits become its children: do not reap children you did not start (no
``os.waitpid(-1, ...)``, no asyncio ``SafeChildWatcher``/``FastChildWatcher``).

Keyword options, accepted by every function that runs a job:

- ``grace_seconds``: SIGTERM this long before the deadline (default 0: SIGKILL only)
- ``memory``: bytes (int) or a size ("256m"); None for no limit (default 1 GiB)
- ``cpus``: a float (0.5); None for no limit (default)
- ``pids_limit``: maximum processes and threads; None for no limit (default 1024); ``pids``,
  the first spelling, is still accepted
- ``cpuset_cpus``: the CPUs the job may run on, as "0-3,8"; None for all (default)
- ``cpu_time_seconds``: kill the job once its processes used this much CPU time (outcome
  "cpu_time_exceeded", exit code -1); None for no limit (default)
- ``tmpfs_size``: size of /tmp and of the work dir (default "64m")
- ``output_cap``: bytes kept per stream; the rest is dropped (default "10m")
- ``env``: a dict, or a list of "KEY=VALUE"
- ``stdin``: str or bytes the script reads on its standard input
- ``interpreter``: a command (str or list); default: the script's #! line, else /bin/sh
- ``rootfs``: a prepared root file system directory; default: a read-only view of the host
- ``image``: an image instead ("python:3.12-slim", "HOST:PORT/NAME:TAG", "oci:PATH[:REF]"):
  the job's root is a throwaway writable overlay on its layers, with its Env, WorkingDir and
  User; pulled first as ``pull`` says ("missing", the default; "always"; "never")
- ``user``: "UID[:GID]" or "NAME[:GROUP]"; default: the image's User, else 65534
- ``runtime``: "runc", "crun", "auto" or a path
- ``workdir``: working directory inside, a writable tmpfs (default "/work")
- ``network``: "none" (loopback only, the default); "private" (outbound through pasta, the
  host's loopback as host.ociexec.internal; "private:no-host-loopback" without it); or "host"
  (the host's network, with no isolation). "host" is root only
- ``volume``, ``mount``, ``tmpfs``: podman's -v, --mount and --tmpfs texts, one (a str) or a
  list: ``volume="/srv/data:/data:ro"``, ``tmpfs=["/work/cache:size=256m"]``
- ``devices``: podman's --device texts, one or a list: a host node "HOSTPATH[:JOBPATH][:PERMS]"
  or a CDI device "VENDOR/CLASS=NAME" (``devices=["nvidia.com/gpu=all"]``); ``gpus``: docker's
  --gpus, "all" or a number (the first N nvidia.com/gpu devices). See docs/devices.md
- ``files``: ``{"data.csv": b"...", "cfg/settings.ini": "text"}``, put into the work dir before
  the job starts (paths relative to it, or absolute under it or /tmp; directories made), owned
  by the job's user; with ``copy_in``, counted against ``tmpfs_size``
- ``copy_in``: host files or directories copied in: ``"/host/dir"`` (into the work dir under
  its own name), ``"/host/file:in/name"``, ``(path, "in/name")``, or a list of them
- ``copy_out``: paths or globs (``"out/*.txt"``; relative to the work dir, or under it or
  /tmp) read after the job ended into ``result.files``, a dict of path -> ``CopiedFile``
  (``.data``, ``.truncated``, ``.error``, ``.mode``); a directory brings every file below it.
  Symlinks are never followed and only regular files read: anything else has ``.error``.
  ``copy_out_file_cap`` (default "64m") and ``copy_out_cap`` (default "256m") bound the bytes
  kept of each file and of all of them
- ``args``: a list of the script's arguments ($1... in a shell script, sys.argv[1:])
- ``env_file``: a path to KEY=VALUE lines (podman's --env-file format), applied before ``env``
- ``init``: run the script under a minimal init that reaps orphans and passes signals on, so
  the script is not pid 1 (``kill -9 $$`` and SIGTERM without a handler end it); default False
- ``ulimit``: resource limits of the job's processes, ``{"nofile": 4096, "fsize": (soft,
  hard)}`` (None or -1: unlimited) or podman's ``["nofile=4096:8192"]``
- ``on_output``: a callable ``(stream, data)`` called with "stdout" or "stderr" and the bytes
  just written, as the job writes them (from a thread of the job's, with the GIL; never two
  calls at once for one job); the Result still holds the capped copy. A slow callback makes
  the job's writes wait, never its deadline. An exception it raises ends the calls for that
  job, and ``result.warnings`` names it. ``Executor.stream()`` gives the same as an async
  iterator.
- ``allow_unenforced_limits``: rootless without a delegated cgroup, run a job that sets a
  memory, cpus, pids, cpuset or CPU-time limit although it cannot be enforced (``result.limits["unenforced"]``
  names it); default False: such a job raises ExecutorError

Images (docs/images.md): ``pull_image(reference, **image_options)``, ``list_images()``,
``remove_image(reference)`` and ``prune_images()``, where the image options are
``image_store``, ``tls_verify``, ``insecure_registries``, ``cert_file`` (a CA bundle),
``creds`` ("USER:PASSWORD"), ``authfile``, ``platform``, ``image_max_size``,
``image_max_entries`` and ``pull_timeout_seconds`` (default 3600), the names of the command's
flags and config keys (README's table; the first spellings ``store``, ``ca_file``,
``credentials``, ``auth_file``, ``max_unpacked_size``, ``max_entries`` and ``pull_timeout``
still work); an Executor takes them as ``images={...}``.

Configuration: an Executor, the default one behind ``execute_script`` and ``run``, and the
image functions read the ``ociexec`` command's config files (``config="auto"``; a path for
one file; None for none), so both get the same defaults on one host.

Errors: every executor failure is an ExecutorError with ``.kind``; InvalidOptionError (also a
ValueError), ConfigError, RuntimeNotFoundError, LimitNotEnforcedError and the image errors,
ImageError and its subclasses ImageNotFound and RegistryAuthError, are its subclasses.
"""

import asyncio
import collections
import concurrent.futures
import os
import signal
import threading

from ._ociexec import (ConfigError, CopiedFile, ExecutorError, ImageError, ImageNotFound,
                       InvalidOptionError, LimitNotEnforcedError, RegistryAuthError, Result,
                       RuntimeNotFoundError)
from ._ociexec import Executor as _CoreExecutor
from ._ociexec import _check_options
from ._ociexec import version as _version
from ._ociexec import list_images as _list_images
from ._ociexec import prune_images as _prune_images
from ._ociexec import pull_image as _pull_image
from ._ociexec import remove_image as _remove_image

__all__ = [
    "execute_script",
    "run",
    "Executor",
    "JobStream",
    "OutputEvent",
    "Result",
    "CopiedFile",
    "ExecutorError",
    "InvalidOptionError",
    "ConfigError",
    "RuntimeNotFoundError",
    "LimitNotEnforcedError",
    "ImageError",
    "ImageNotFound",
    "RegistryAuthError",
    "DEFAULT_TIMEOUT_SECONDS",
    "__version__",
    "pull_image",
    "list_images",
    "remove_image",
    "prune_images",
]

__version__ = _version()
DEFAULT_TIMEOUT_SECONDS = 300


def _find_init():
    """ociexec-init (the warm pool's, and a job's with ``init=True``): inside this package
    (installed by pip), in the build tree beside this package's dir, or under the prefix the
    package was installed to (<prefix>/lib/pythonX.Y/dist-packages/ociexec). "" lets the
    library look where it was configured to."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "ociexec-init"),
                      os.path.join(here, "..", "..", "ociexec-init"),
                      os.path.join(here, "..", "..", "..", "..", "libexec", "ociexec",
                                   "ociexec-init")):
        if os.access(candidate, os.X_OK):
            return os.path.normpath(candidate)
    return ""


OutputEvent = collections.namedtuple("OutputEvent", ["stream", "data"])
OutputEvent.__doc__ = """A piece of a job's live output: ``stream`` is "stdout" or "stderr",
``data`` the bytes (a piece may end inside a UTF-8 character; the next one holds the rest)."""


class JobStream:
    """A running job's live output (Executor.stream()): an async iterator of OutputEvent, in
    the order the job wrote them, that ends when the job has ended and been removed; then
    ``await stream.result()`` gives its Result, or raises its ExecutorError.

    The iterator holds at most ``window`` pieces the loop has not taken yet: past that the
    job's writes wait (as on a slow terminal), never its deadline. ``await result()`` before
    the end, or ``aclose()``, drops the output not yet taken (the Result still holds it, up to
    the cap)."""

    _END = object()

    def __init__(self, loop, window):
        self._loop = loop
        self._queue = asyncio.Queue()
        self._room = threading.Semaphore(window)
        self._dropping = threading.Event()
        self._future = None

    def _on_output(self, stream, data):  # the job's relay thread
        # Waits for room while the loop still takes events (checked first: once dropping,
        # no piece may wait at all).
        while not self._dropping.is_set():
            if self._room.acquire(timeout=0.05):
                break
        if self._dropping.is_set():
            return
        self._loop.call_soon_threadsafe(self._queue.put_nowait, OutputEvent(stream, data))

    def _on_done(self, _future):  # a worker thread, once every piece was delivered
        self._loop.call_soon_threadsafe(self._queue.put_nowait, self._END)

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._dropping.is_set():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is self._END:
            self._dropping.set()
            raise StopAsyncIteration
        self._room.release()
        return item

    async def aclose(self):
        self._dropping.set()

    async def result(self):
        """The job's Result, once it has ended (drops the output not taken yet)."""
        self._dropping.set()
        return await asyncio.wrap_future(self._future)


class _Kill:
    """The pipe through which a job is killed when its caller cancels or is interrupted: its
    read end is the job's signal_fd (each byte written is a signal sent to every process of
    the job), its write end is this object's."""

    def __init__(self):
        self.read_fd, self._write_fd = os.pipe2(os.O_CLOEXEC)
        self._lock = threading.Lock()

    def kill(self):
        with self._lock:
            if self._write_fd >= 0:
                os.write(self._write_fd, bytes([signal.SIGKILL]))

    def close(self):
        with self._lock:
            if self._write_fd >= 0:
                os.close(self.read_fd)
                os.close(self._write_fd)
                self.read_fd = self._write_fd = -1


def _run_job(held, script, merged, kill):
    """Runs one job on the core in ``held`` (a one-item list) with ``kill``'s pipe as its
    signal_fd, then closes the pipe. The core is taken out of ``held`` before the job runs, so
    the job lets go of it before its result is published: the last reference to the Executor
    is then the one whose release removes the warm pool, at once."""
    try:
        return held.pop().run(script, merged, kill.read_fd)
    finally:
        kill.close()


def _renamed(options, aliases, where):
    """``options`` with each earlier spelling in ``aliases`` (old -> new) under its one name
    (README's table); both spellings at once is a TypeError."""
    for old, new in aliases.items():
        if old in options:
            if new in options:
                raise TypeError(f"{where}: {old!r} and {new!r} are one setting; give {new!r} only")
            options[new] = options.pop(old)
    return options


_IMAGE_ALIASES = {"store": "image_store", "ca_file": "cert_file", "credentials": "creds",
                  "auth_file": "authfile", "max_unpacked_size": "image_max_size",
                  "max_entries": "image_max_entries", "pull_timeout": "pull_timeout_seconds"}
_EXECUTOR_ALIASES = {"runtime_timeout": "runtime_timeout_seconds",
                     "pool_max_age": "pool_max_age_seconds", "kill_wait": "kill_wait_seconds"}


class Executor:
    """Runs jobs; keeps its configuration and state across calls. Thread-safe: any number of
    threads may run jobs on one executor at once (the GIL is released while a job runs).

    ``config``: "auto" (the default) reads the files the ``ociexec`` command reads
    (/etc/ociexec/config.yaml, then, for a user other than root, $XDG_CONFIG_HOME/ociexec/
    config.yaml), so Python and the command on one host get the same defaults; a path reads
    that file alone; None reads none. The keywords given here win over the files.

    ``state_dir`` holds bundles and runtime state (None: /run/ociexec as root; rootless,
    $XDG_RUNTIME_DIR/ociexec or /tmp/ociexec-<uid>); ``runtime`` is "auto" (crun where it works
    on this host, else runc), "runc", "crun" or a path; ``cgroup_parent`` names the parent of
    every job's cgroup; ``runtime_timeout_seconds`` bounds each runtime call.
    ``pool_size`` keeps that many containers created ahead per profile (a warm pool; each
    serves one job), replaced after ``pool_max_age_seconds``, at most ``pool_max_containers``
    across all profiles (0: twice ``pool_size``; the least recently used profile makes room);
    its containers, and jobs with ``init=True``, run ``init_path`` (default: the ociexec-init
    installed with this package). With the pool on, ``warm_interpreters`` (default True) gives
    Python jobs (a ``#!/usr/bin/python3`` line without options) containers whose interpreter
    started ahead; they see what a cold start gives them (docs/design.md).
    ``kill_wait_seconds`` is how long a job's processes may take to exit after the deadline's
    SIGKILL; past it the result comes back anyway, timed out, with a warning in
    ``result.warnings``, and the container is left to ``collect_garbage()``.
    ``max_concurrent_jobs`` bounds the jobs submit() runs at once. ``images`` holds the image
    store and registry settings its jobs' ``image`` option uses (see pull_image).
    ``cdi_spec_dirs`` lists where CDI specs are read for the ``devices`` option (None:
    /etc/cdi, then /var/run/cdi; a later dir has precedence). Any other keyword becomes a
    default option for this executor's jobs (see the module's docstring). ``runtime_timeout``,
    ``pool_max_age`` and ``kill_wait``, the first spellings, are still accepted.

    A context manager: leaving the ``with`` block calls ``shutdown()``, as for
    concurrent.futures' executors.

    Raises ExecutorError when no runtime works or the state dir cannot be made
    (RuntimeNotFoundError, ConfigError for a bad config file). Run by an unprivileged user,
    jobs run rootless (docs/rootless.md): memory, cpus and pids limits are not enforced, a job
    that sets one fails unless ``allow_unenforced_limits=True``, and
    ``result.limits["unenforced"]`` lists them.
    """

    def __init__(self, state_dir=None, runtime=None, cgroup_parent=None,
                 runtime_timeout_seconds=None, pool_size=None, pool_max_age_seconds=None,
                 max_concurrent_jobs=None, init_path=None, images=None, pool_max_containers=None,
                 kill_wait_seconds=None, cdi_spec_dirs=None, warm_interpreters=None,
                 config="auto", **defaults):
        given = (("state_dir", state_dir), ("runtime", runtime),
                 ("cgroup_parent", cgroup_parent),
                 ("runtime_timeout_seconds", runtime_timeout_seconds),
                 ("pool_size", pool_size), ("pool_max_age_seconds", pool_max_age_seconds),
                 ("max_concurrent_jobs", max_concurrent_jobs), ("init_path", init_path),
                 ("pool_max_containers", pool_max_containers),
                 ("kill_wait_seconds", kill_wait_seconds), ("cdi_spec_dirs", cdi_spec_dirs),
                 ("warm_interpreters", warm_interpreters))
        settings = {name: value for name, value in given if value is not None}
        settings.update((k, defaults.pop(k)) for k in list(defaults) if k in _EXECUTOR_ALIASES)
        _renamed(settings, _EXECUTOR_ALIASES, "Executor")
        self._defaults = dict(defaults)
        _check_options(self._defaults)  # an unknown or mistyped default fails here, not later
        images = _renamed(dict(images or {}), _IMAGE_ALIASES, "images")
        self._core = _CoreExecutor(config, settings, images, _find_init())
        self._lock = threading.Lock()
        self._threads = None  # the ThreadPoolExecutor of submit(), made on first use
        self._threads_pid = None
        self._shut_down = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.shutdown()
        return False

    def _merged(self, timeout_seconds, options):
        merged = dict(self._defaults)
        merged.update(options)
        if timeout_seconds is not None:
            merged["timeout_seconds"] = timeout_seconds
        return merged

    def _live_core(self):
        core = self._core
        if core is None or self._shut_down:
            raise RuntimeError("ociexec.Executor: cannot run jobs after shutdown()")
        return core

    def _thread_pool(self, core):
        # One per process: after fork() the parent's threads are gone, so a child makes its own.
        if self._threads is None or self._threads_pid != os.getpid():
            self._threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=core.max_concurrent_jobs, thread_name_prefix="ociexec-job")
            self._threads_pid = os.getpid()
        return self._threads

    def _submit(self, script, timeout_seconds, options):
        """(Future, _Kill): the job queued on the thread pool."""
        merged = self._merged(timeout_seconds, options)
        _check_options(merged)  # bad options raise here, before anything runs
        with self._lock:
            core = self._live_core()
            kill = _Kill()
            try:
                future = self._thread_pool(core).submit(_run_job, [core], script, merged, kill)
            except BaseException:
                kill.close()
                raise
        # A job cancelled before it started never runs: its pipe is closed here.
        future.add_done_callback(lambda f: f.cancelled() and kill.close())
        return future, kill

    def submit(self, script, timeout_seconds=None, **options):
        """Runs ``script`` in the background and returns a concurrent.futures.Future of its
        Result (or of the ExecutorError it raised). At most ``max_concurrent_jobs`` run at
        once; the others wait in order, and ``future.cancel()`` takes one that has not started
        off the queue. Bad options raise here, before anything runs."""
        return self._submit(script, timeout_seconds, options)[0]

    async def run_async(self, script, timeout_seconds=None, **options):
        """submit() for asyncio: awaits the job's Result without blocking the event loop.
        Cancelling the task cancels a job still queued, and kills a running one (SIGKILL to
        every process of it); the CancelledError comes once the job was removed."""
        future, kill = self._submit(script, timeout_seconds, options)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if not future.cancel():
                kill.kill()
                await asyncio.wait([asyncio.wrap_future(future)])
            raise

    def stream(self, script, timeout_seconds=None, window=64, **options):
        """Starts ``script`` as submit() does and returns a JobStream, an async iterator of its
        live output (call it from a running event loop)::

            job = executor.stream("for i in 1 2 3; do echo $i; sleep 1; done")
            async for event in job:
                print(event.stream, event.data)
            result = await job.result()
        """
        if "on_output" in options:
            raise TypeError("stream(): the stream takes the output; do not pass on_output")
        job = JobStream(asyncio.get_running_loop(), window)
        job._future = self.submit(script, timeout_seconds, on_output=job._on_output, **options)
        job._future.add_done_callback(job._on_done)
        return job

    def prewarm(self, timeout_seconds=None, **options):
        """With a warm pool: creates the pool's containers for jobs with these options now, and
        waits until they are ready or ``timeout_seconds`` (default 30) pass. Returns how many
        are ready. (``timeout``, the first spelling, is still accepted.)"""
        wait = {"timeout_seconds": timeout_seconds} if timeout_seconds is not None else {}
        if "timeout" in options:
            wait["timeout"] = options.pop("timeout")
        wait = _renamed(wait, {"timeout": "timeout_seconds"}, "prewarm")
        return self._live_core().prewarm(self._merged(None, options),
                                         float(wait.get("timeout_seconds", 30.0)))

    def run(self, script, timeout_seconds=None, **options):
        """Runs ``script`` (str or bytes) in a fresh container and returns a Result: exit_code,
        stdout, stderr, outcome ("exited", "signaled", "timed_out", "oom_killed",
        "cpu_time_exceeded"), signal, wall_time, cpu_time, peak_memory, the truncated flags,
        runtime and the effective limits. A Result unpacks as (exit_code, stdout, stderr).
        ``timeout_seconds`` None means this executor's default (the config file's, else 300).
        Blocks until the job is done and removed. Raises ExecutorError (InvalidOptionError for
        bad values) when the executor, not the script, fails.

        In the main thread, Ctrl-C (KeyboardInterrupt) kills the running job and raises once
        it was removed, instead of waiting for its timeout."""
        merged = self._merged(timeout_seconds, options)
        if threading.current_thread() is not threading.main_thread():
            return self._live_core().run(script, merged)
        return self._run_interruptible(self._live_core(), script, merged)

    @staticmethod
    def _run_interruptible(core, script, merged):
        # The job runs on a thread of its own while the main thread waits where a signal can
        # interrupt it (a blocked C++ call cannot be); an interrupt kills the job through its
        # signal_fd and waits for its removal.
        kill = _Kill()
        outcome = {}
        finished = threading.Event()
        held = [core]

        def job():
            try:
                outcome["result"] = _run_job(held, script, merged, kill)
            except BaseException as error:  # handed to the caller
                outcome["error"] = error
            finally:
                finished.set()

        threading.Thread(target=job, name="ociexec-job", daemon=True).start()
        try:
            finished.wait()
        except BaseException:
            kill.kill()
            finished.wait()
            raise
        if "error" in outcome:
            raise outcome.pop("error")
        return outcome["result"]

    def execute_script(self, script, timeout_seconds=None, **options):
        """The contract: returns (exit_code, stdout, stderr); exit_code is -1 on timeout and
        stderr then ends with the line "Execution timeout (Ns): ..."."""
        result = self.run(script, timeout_seconds, **options)
        return result.exit_code, result.stdout, result.stderr

    def collect_garbage(self):
        """Removes containers, cgroups and bundles whose owning process is gone; returns the
        ids removed."""
        return self._live_core().collect_garbage()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """As concurrent.futures.Executor.shutdown: no job may be submitted or run after it;
        ``cancel_futures`` cancels the jobs still queued; ``wait`` waits for the running ones.
        Once they are done, the warm pool's containers are removed. Safe to call again."""
        with self._lock:
            self._shut_down = True
            threads = self._threads if self._threads_pid == os.getpid() else None
            self._threads = None
        if threads is not None:
            threads.shutdown(wait=wait, cancel_futures=cancel_futures)
        # Jobs still running hold the core; it is destroyed (its pool removed) after them.
        self._core = None

    def close(self):
        """shutdown(wait=True)."""
        self.shutdown()

    @property
    def runtime(self):
        """{"name", "path", "version"} of the runtime jobs use by default."""
        return self._live_core().runtime


_default = None
_default_lock = threading.Lock()


def _default_executor():
    global _default
    with _default_lock:
        if _default is None:
            _default = Executor()
        return _default


def run(script, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, **options):
    """Runs ``script`` on the process-wide default executor; returns the full Result."""
    return _default_executor().run(script, timeout_seconds, **options)


def execute_script(script, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, **options):
    """Runs ``script`` in a container and returns (exit_code, stdout, stderr).

    On timeout the whole container is killed at the deadline: exit_code is -1 and stderr ends
    with the line "Execution timeout (Ns): ...", after whatever the script wrote. Executor
    failures (no runtime, bad options, missing rootfs) raise ExecutorError."""
    return _default_executor().execute_script(script, timeout_seconds, **options)


def pull_image(reference, config="auto", **image_options):
    """Fetches an image (registry or "oci:PATH[:REF]") into the store, in this process.
    Returns {"name", "digest", "config_digest", "layers", "size", "pulled_at",
    "layers_fetched", "layers_cached", "bytes_fetched"}; raises ImageNotFound,
    RegistryAuthError or ImageError (ExecutorErrors, with .kind "image_not_found", "auth",
    "image"). ``config`` as Executor's: the config files' image settings, under these."""
    return _pull_image(reference, config, _renamed(image_options, _IMAGE_ALIASES, "pull_image"))


def list_images(config="auto", **image_options):
    """The images in the store, as dicts like pull_image's."""
    return _list_images(config, _renamed(image_options, _IMAGE_ALIASES, "list_images"))


def remove_image(reference, config="auto", **image_options):
    """Removes a name (every name of an image, given its digest) and the layers no other image
    uses; returns the names removed."""
    return _remove_image(reference, config,
                         _renamed(image_options, _IMAGE_ALIASES, "remove_image"))


def prune_images(config="auto", **image_options):
    """Removes layers and blobs no image references (unless a running job holds them)."""
    return _prune_images(config, _renamed(image_options, _IMAGE_ALIASES, "prune_images"))
