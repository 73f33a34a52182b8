# The warm Python interpreter of a pooled container (pool/warm.h), run as
# `PYTHON /.ociexec/warm.py` when the pool makes the container, before any job is known.
#
# Ahead of a job it imports the standard modules below, tells the executor it is ready (one
# "R" on fd 3, a socket), and waits there. When the executor has written a job into the
# container (the job file, the script, stdin) it sends one byte; the job is then read from the
# job file and run in this process as `PYTHON /.ociexec/script ARGS...` would run it: the same
# sys.argv and sys.orig_argv, environment (os.environ in its order, and the C environment),
# working directory, a fresh __main__ as a file run makes it, the script compiled with the
# interpreter's own flags, and an uncaught exception printed without this file's frames.
#
# Where the interpreter's start-up could have come out differently for the job (a PYTHON*,
# locale, TZ or HOME variable the job sets differently, another interpreter or options, a
# user site dir that appeared since), it execs the job's command instead: a cold start in the
# same container, which is exactly what a container made for the job would run.
#
# What the job can still tell apart (docs/design.md): the modules already in sys.modules, the
# CPU time and start time of its process, /proc/self/cmdline and /proc/self/environ (what the
# process was started with), and this file's frame below the script's on the stack
# (inspect.stack(), a warning's stacklevel past the script's top).
import os
import sys

_STATUS_FD = 3
_SCRIPT = "/.ociexec/script"
_JOB_FILE = "/.ociexec/job"
_MAGIC = b"ociexec-job-2"

# Imported ahead: what scripts commonly import whose import reads nothing that differs per job
# (no env, no clock that a job's output would show). Not logging (its start time), hashlib or
# ssl (OpenSSL reads its env and config as it loads).
_AHEAD = (
    "abc argparse base64 bisect collections contextlib copy csv dataclasses datetime decimal "
    "enum fnmatch fractions functools glob heapq io itertools json math operator pathlib "
    "random re select shlex shutil signal socket statistics string struct subprocess "
    "tempfile textwrap threading traceback types typing urllib.parse warnings"
).split()


def _sensitive(key):
    # What the interpreter or a module imported ahead reads from the environment as it starts.
    return (key.startswith(b"PYTHON") or key.startswith(b"LC_")
            or key in (b"LANG", b"LANGUAGE", b"TZ", b"HOME"))


def _env_pairs(entries):
    pairs = []
    for entry in entries:
        key, sep, value = entry.partition(b"=")
        if sep:
            pairs.append((key, value))
    return pairs


def _read_job(path=_JOB_FILE):
    with open(path, "rb") as f:
        fields = f.read().split(b"\0")
    if fields[0] != _MAGIC or fields[-1] != b"":
        raise ValueError("bad job file")
    pos = 1
    lists = []
    for _ in range(2):
        n = int(fields[pos])
        lists.append(fields[pos + 1:pos + 1 + n])
        pos += 1 + n
    argv, env = lists
    cwd, init = fields[pos], fields[pos + 1]
    return argv, env, cwd, init == b"1"


# What ociexec-init reports when it cannot start a job (pool/job_file.h), and its exit code.
def _fail(err, what):
    os.write(_STATUS_FD, err.to_bytes(4, sys.byteorder, signed=True) + what.encode()[:1000])
    os._exit(127 if err == 2 else 126)


def _exec_cold(argv, env, cwd):
    # The job's own start, as ociexec-init would make it; a failure is reported as the init
    # reports one (pool/job_file.h).
    try:
        os.chdir(cwd)
        os.execve(argv[0], argv, dict(_env_pairs(env)))
    except OSError as e:
        _fail(e.errno, "exec " + os.fsdecode(argv[0]) + ": " + os.strerror(e.errno))


def _warm_fits(argv, env, started_env, user_site):
    if len(argv) < 2 or argv[1] != _SCRIPT.encode() or os.fsdecode(argv[0]) != sys.orig_argv[0]:
        return False
    job = dict(_env_pairs(env))
    if any(job.get(k) != started_env.get(k) for k in set(job) | set(started_env) if _sensitive(k)):
        return False
    # A user site dir that the job's files made since start-up would have been on sys.path.
    return os.path.isdir(user_site) == (user_site in sys.path)


def _job_environment(env, started_env):
    # The job's, in its order; then what the interpreter added to its own as it started (the
    # locale coercion's LC_CTYPE) where the job has no such key, as a cold start appends it.
    pairs = _env_pairs(env)
    keys = {k for k, _ in pairs}
    for key, value in os.environb.items():
        if key not in started_env and key not in keys:
            pairs.append((key, value))
    return pairs


def _strip_own_frames(tb):
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _run_main(path, argv, source):
    import builtins
    import importlib.machinery
    import types

    main = types.ModuleType("__main__")
    d = main.__dict__
    d["__annotations__"] = {}
    d["__builtins__"] = builtins
    d["__file__"] = path
    d["__cached__"] = None
    d["__loader__"] = importlib.machinery.SourceFileLoader("__main__", path)
    sys.modules["__main__"] = main
    sys.argv = [os.fsdecode(a) for a in argv[1:]]
    sys.orig_argv = [os.fsdecode(a) for a in argv]
    try:
        exec(compile(source, path, "exec", dont_inherit=True), d)
    except SystemExit:
        raise
    except BaseException:
        # Printed by the job's own hook, as the interpreter prints it, without this file's
        # frames; the interpreter then exits as it would (1, or by SIGINT for Ctrl-C).
        job_hook = sys.excepthook

        def hook(kind, value, tb):
            sys.excepthook = job_hook
            tb = _strip_own_frames(tb)
            if value is not None:
                value.__traceback__ = tb
            job_hook(kind, value, tb)

        sys.excepthook = hook
        raise
    finally:
        # A file run drops these once the script is done, before the atexit handlers.
        d.pop("__file__", None)
        d.pop("__cached__", None)


def _main():
    os.set_inheritable(_STATUS_FD, False)
    started_env = dict(_env_pairs(open("/proc/self/environ", "rb").read().split(b"\0")))
    for name in _AHEAD:
        __import__(name)
    import site
    user_site = site.getusersitepackages() or ""
    # What was made so far lives as long as the process: the collector (at the job's exit,
    # in several passes) skips it, as a cold start's has much less of it to go through.
    import gc
    gc.collect()
    gc.freeze()

    os.write(_STATUS_FD, b"R")
    if os.read(_STATUS_FD, 1) == b"":
        os._exit(0)  # the executor is gone: discarded unused
    try:
        argv, env, cwd, init = _read_job()
        with open(_SCRIPT, "rb") as f:
            source = f.read()
    except (OSError, ValueError, IndexError) as e:
        _fail(22, "read the job: " + str(e))  # EINVAL, as ociexec-init reports a bad job file
    # A NUL byte: the tokenizer's error is the cold start's, not compile()'s.
    if init or b"\0" in source or not _warm_fits(argv, env, started_env, user_site):
        _exec_cold(argv, env, cwd)
    try:
        os.chdir(cwd)
    except OSError as e:
        _fail(e.errno, "chdir " + os.fsdecode(cwd) + ": " + os.strerror(e.errno))
    pairs = _job_environment(env, started_env)
    os.environb.clear()
    for key, value in pairs:
        os.environb[key] = value
    os.close(_STATUS_FD)
    return argv, source


if __name__ == "__main__":  # else imported by the unit tests
    _run_main(_SCRIPT, *_main())
