"""The Python API as concurrent.futures and asyncio users expect it: an Executor that is a
context manager with shutdown(), Future.cancel() for a job still queued, a cancelled
run_async task and Ctrl-C that kill the running job at once (not at its timeout), error
classes by kind, the config files the command reads, and one name per setting."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import ociexec
from conftest import CGROUP_PARENT, ROOTFS, RUNTIME


def _executor(state_dir, **kw):
    return ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=CGROUP_PARENT,
                            rootfs=ROOTFS, config=None, **kw)


def test_a_queued_job_is_cancelled_and_never_runs(state_dir, tmp_path):
    with _executor(state_dir, max_concurrent_jobs=1) as executor:
        first = executor.submit("sleep 1; echo first", 30)
        second = executor.submit("echo second", 30)
        assert second.cancel() is True and second.cancelled()
        assert first.cancel() is False  # running: a Future cannot stop it
        assert first.result().stdout == "first\n"
        with pytest.raises(Exception) as caught:
            second.result()
        assert type(caught.value).__name__ == "CancelledError"


def test_shutdown_cancels_queued_jobs_and_refuses_new_ones(state_dir):
    executor = _executor(state_dir, max_concurrent_jobs=1, pool_size=1)
    executor.prewarm()
    running = executor.submit("sleep 1; echo ran", 30)
    queued = [executor.submit("echo never", 30) for _ in range(3)]
    executor.shutdown(wait=True, cancel_futures=True)
    assert running.result().stdout == "ran\n"
    assert all(f.cancelled() for f in queued)
    for call in (lambda: executor.run("true"), lambda: executor.submit("true")):
        with pytest.raises(RuntimeError, match="after shutdown"):
            call()
    executor.shutdown()  # again: nothing to do


def test_the_with_block_removes_the_warm_pool(state_dir):
    with _executor(state_dir, pool_size=2) as executor:
        assert executor.prewarm(timeout_seconds=30) == 2
        assert executor.run("echo pooled").pooled
    # The fixture checks no container, cgroup or bundle of this process is left.


def test_warm_interpreters_are_a_setting_and_give_what_a_cold_start_gives(state_dir):
    script = ("#!/usr/bin/python3\nimport os, sys\n"
              "print(sys.argv, os.getcwd(), dict(os.environ), 'json' in sys.modules)\n")
    results = {}
    for warm in (True, False):
        # The built-in host view (rootfs=None): its python3 is the host's.
        with ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=CGROUP_PARENT,
                              config=None, pool_size=1, warm_interpreters=warm) as executor:
            assert executor.prewarm(interpreter=["/usr/bin/python3"]) == 1
            results[warm] = executor.run(script, args=["a"], env={"K": "v"})
            assert results[warm].pooled
    cold_line = results[False].stdout
    assert cold_line.endswith(" False\n")
    assert results[True].stdout == cold_line[:-len(" False\n")] + " True\n"


def test_cancelling_run_async_kills_the_running_job(state_dir):
    started = threading.Event()

    async def main(executor):
        task = asyncio.create_task(executor.run_async(
            "echo ready; sleep 60", 120, on_output=lambda s, d: started.set()))
        while not started.is_set():
            await asyncio.sleep(0.01)
        begin = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - begin

    with _executor(state_dir) as executor:
        took = asyncio.run(main(executor))
    print(f"cancelled run_async task ended with its job removed in {took * 1000:.0f} ms")
    assert took < 0.5


CTRL_C = r"""
import os, signal, sys, threading, time, ociexec
executor = ociexec.Executor(state_dir=sys.argv[1], runtime=sys.argv[2], rootfs=sys.argv[3],
                            cgroup_parent=sys.argv[4], config=None)
sent = []
def ready(stream, data):
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C in a terminal does
try:
    executor.run("echo ready; sleep 60", timeout_seconds=120, on_output=ready)
    print("not interrupted")
except KeyboardInterrupt:
    print(f"interrupted {time.monotonic() - sent[0]:.3f}")
"""


def test_ctrl_c_in_the_main_thread_kills_the_job_within_half_a_second(state_dir):
    out = subprocess.run([sys.executable, "-c", CTRL_C, state_dir, RUNTIME, ROOTFS,
                          CGROUP_PARENT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    word, seconds = out.stdout.split()
    print(f"Ctrl-C: KeyboardInterrupt with the job removed {float(seconds) * 1000:.0f} ms later")
    assert word == "interrupted" and float(seconds) < 0.5


def test_errors_have_a_class_per_kind(state_dir, tmp_path):
    with pytest.raises(ociexec.ImageNotFound) as caught:
        ociexec.pull_image(f"oci:{tmp_path}/missing", image_store=str(tmp_path / "store"))
    assert isinstance(caught.value, ociexec.ImageError)
    assert isinstance(caught.value, ociexec.ExecutorError) and caught.value.kind == "image_not_found"
    with pytest.raises(ociexec.RuntimeNotFoundError):
        ociexec.Executor(state_dir=state_dir, runtime="/nonexistent/runc", config=None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("memory: lots\n")
    with pytest.raises(ociexec.ConfigError, match="bad.yaml:1:9: memory"):
        ociexec.Executor(state_dir=state_dir, config=str(bad))
    assert issubclass(ociexec.RegistryAuthError, ociexec.ImageError)
    assert issubclass(ociexec.InvalidOptionError, ValueError)


def test_the_config_file_gives_defaults_and_keywords_win(state_dir, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("memory: 64m\ntimeout: 7s\npids_limit: 99\nkill_wait: 3s\n")
    executor = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, rootfs=ROOTFS,
                                cgroup_parent=CGROUP_PARENT, config=str(config), pids_limit=50)
    limits = executor.run("true").limits
    assert (limits["memory"], limits["timeout"], limits["pids"]) == (64 << 20, 7.0, 50)
    assert executor.run("true", 3, memory="128m").limits["memory"] == 128 << 20
    plain = _executor(state_dir)
    assert plain.run("true").limits["memory"] == 1 << 30  # config=None: the built-in default
    executor.shutdown()
    plain.shutdown()


def test_one_name_per_setting_and_the_first_spellings_still_work(state_dir, tmp_path):
    store = str(tmp_path / "store")
    assert ociexec.list_images(image_store=store) == ociexec.list_images(store=store) == []
    with pytest.raises(TypeError, match="'store' and 'image_store' are one setting"):
        ociexec.list_images(store=store, image_store=store)
    with _executor(state_dir, kill_wait=5, runtime_timeout=20, pool_max_age=30) as executor:
        assert executor.run("echo old names").stdout == "old names\n"
        with pytest.raises(TypeError, match="'timeout' and 'timeout_seconds' are one setting"):
            executor.prewarm(timeout=1, timeout_seconds=1)
    with pytest.raises(TypeError, match="kill_wait"):
        _executor(state_dir, kill_wait=5, kill_wait_seconds=5)
    with pytest.raises(TypeError, match="unknown image option 'store_dir'"):
        ociexec.list_images(store_dir=store)
