"""Options, results, errors and threads, on an executor of our own over the test rootfs."""

import concurrent.futures
import os
import time

import pytest

import ociexec

from conftest import ROOTFS


def test_the_result_is_complete_and_unpacks_as_a_triple(executor):
    result = executor.run("echo out; echo err >&2; exit 3", timeout_seconds=10)
    code, out, err = result
    assert (code, out, err) == (3, "out\n", "err\n")
    assert result.outcome == "exited"
    assert result.signal is None
    assert 0 < result.wall_time < 10
    assert result.cpu_time is not None and result.cpu_time >= 0
    assert result.peak_memory > 0
    assert result.runtime["name"] in ("runc", "crun") and result.runtime["version"]
    assert result.container_id.startswith("ociexec-")
    assert result.limits == {"timeout": 10.0, "grace": 0.0, "memory": 1 << 30, "cpus": None,
                             "pids": 1024, "tmpfs_size": 64 << 20, "output_cap": 10 << 20,
                             "ulimit": {}, "cpuset_cpus": None, "cpu_time": None,
                             "unenforced": []}


def test_a_memory_hog_is_oom_killed(executor):
    result = executor.run("/bin/payload memhog 512", memory="64m", timeout_seconds=20)
    assert result.outcome == "oom_killed"
    assert result.limits["memory"] == 64 << 20
    assert result.peak_memory <= 64 << 20


def test_limits_accept_ints_strings_and_none(executor):
    assert executor.run("true", memory=256 << 20).limits["memory"] == 256 << 20
    assert executor.run("true", memory=None, pids=None).limits["memory"] is None
    assert executor.run("true", cpus="0.5").limits["cpus"] == 0.5
    result = executor.run("/bin/payload forkbomb 30", pids=32, timeout_seconds=20)
    assert result.stdout.startswith("fork failed after ")
    assert int(result.stdout.split()[3].rstrip(":")) < 32


def test_a_cpu_quota_holds(executor):
    result = executor.run("while :; do :; done", cpus=0.2, timeout_seconds=1.5)
    assert result.outcome == "timed_out"
    assert 0.15 < result.cpu_time < 0.5


def test_stdin_reaches_the_script_as_str_or_bytes(executor):
    assert executor.run("/bin/payload cat", stdin="hello\n").stdout == "hello\n"
    data = bytes(range(256)) * 1000
    assert executor.run("/bin/payload cat", stdin=data).stdout_bytes == data


def test_output_caps_drop_the_rest_and_say_so(executor):
    result = executor.run("/bin/payload flood 1", output_cap=1000)
    assert len(result.stdout) == 1000
    assert result.stdout_truncated
    assert not result.stderr_truncated


def test_output_that_is_not_utf8_is_replaced_in_str_and_kept_in_bytes(executor):
    result = executor.run("printf 'a\\377b'")
    assert result.stdout == "a\ufffdb"
    assert result.stdout_bytes == b"a\xffb"


def test_env_interpreter_and_grace(executor):
    result = executor.run("/bin/payload env", env={"GREETING": "hi there"})
    assert "GREETING=hi there\n" in result.stdout
    assert executor.run("ignored", interpreter=["/bin/payload", "exit", "7"]).exit_code == 7
    result = executor.run("/bin/payload sleep 60", timeout_seconds=3, grace_seconds=2)
    assert result.outcome == "timed_out"
    assert result.wall_time < 2


def test_args_env_file_and_init(executor, tmp_path):
    env_file = tmp_path / "env.list"
    env_file.write_text("# comment\nA=from-file\nB=from-file\n")
    result = executor.run('echo "$#:$1:$2:$A:$B"', args=["x", "y z"], env_file=env_file,
                          env={"B": "from-env"})
    assert result.stdout == "2:x:y z:from-file:from-env\n"
    killed = executor.run("echo before; kill -9 $$; echo after", init=True)
    assert (killed.outcome, killed.signal, killed.exit_code) == ("signaled", 9, 137)
    assert killed.stdout == "before\n"
    assert executor.run("kill -9 $$; echo after").stdout == "after\n"  # the shell is pid 1
    with pytest.raises(TypeError, match="args"):
        executor.run("true", args="not a list")
    with pytest.raises(ociexec.InvalidOptionError, match="missing.list"):
        executor.run("true", env_file=tmp_path / "missing.list")


def test_eight_python_threads_run_jobs_at_once(executor):
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: executor.execute_script(f"/bin/payload sleep 1; echo {i}"),
                                range(8)))
    elapsed = time.monotonic() - start
    assert results == [(0, f"{i}\n", "") for i in range(8)]
    assert elapsed < 5  # one at a time would take over 8 s: the GIL is released while jobs run


def test_executor_failures_raise_executor_error_with_a_kind(executor):
    with pytest.raises(ociexec.ExecutorError) as missing_rootfs:
        executor.run("true", rootfs="/nonexistent/rootfs")
    assert missing_rootfs.value.kind == "rootfs_not_found"
    assert "/nonexistent/rootfs" in str(missing_rootfs.value)
    with pytest.raises(ociexec.ExecutorError) as missing_runtime:
        executor.run("true", runtime="/nonexistent/runc")
    assert missing_runtime.value.kind == "runtime_not_found"
    with pytest.raises(ociexec.ExecutorError) as not_found:
        executor.run("true", interpreter="/nonexistent")
    assert not_found.value.kind == "command_not_found"
    with pytest.raises(ociexec.ExecutorError):
        ociexec.Executor(runtime="/nonexistent/runc")


def test_bad_values_raise_invalid_option_error_which_is_a_value_error(executor):
    for bad in ({"memory": "12q"}, {"memory": "1k"}, {"cpus": 0}, {"pids_limit": 0}, {"pids": 0},
                {"timeout_seconds": 0}, {"env": ["NOEQUALS"]}, {"workdir": "/usr"}):
        with pytest.raises(ociexec.InvalidOptionError) as err:
            executor.run("true", **bad)
        assert isinstance(err.value, ValueError)
        assert err.value.kind == "invalid_argument"


def test_unknown_or_mistyped_options_raise_type_error(executor):
    with pytest.raises(TypeError, match="unknown option 'memroy'"):
        executor.run("true", memroy="1g")
    with pytest.raises(TypeError):
        executor.run("true", memory=[1])
    with pytest.raises(TypeError):
        ociexec.Executor(state_dir="/tmp/unused", bogus=1)


def test_executor_defaults_apply_to_every_job(state_dir):
    from conftest import CGROUP_PARENT, RUNTIME
    exec2 = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=CGROUP_PARENT,
                             rootfs=ROOTFS, memory="128m", timeout_seconds=5)
    result = exec2.run("true")
    assert result.limits["memory"] == 128 << 20
    assert result.limits["timeout"] == 5.0
    assert exec2.run("true", timeout_seconds=7).limits["timeout"] == 7.0
    assert exec2.runtime["name"] == RUNTIME


def test_the_last_executor_out_removes_the_cgroup_parent(state_dir):
    import gc
    from conftest import RUNTIME, cgroup_mounts
    parent = f"ociexec-pytest-{os.getpid()}-own"
    mounts = list(cgroup_mounts())

    def present():
        return sum(os.path.isdir(os.path.join(m, parent)) for m in mounts)

    first = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=parent,
                             rootfs=ROOTFS)
    second = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=parent,
                              rootfs=ROOTFS)
    assert first.run("true").exit_code == 0
    assert second.run("true").exit_code == 0
    assert present() == len(mounts), "kept between jobs, in every hierarchy"
    del first
    gc.collect()
    assert present() == len(mounts), "removed while another executor holds it"
    del second
    gc.collect()
    assert present() == 0, "the last executor out left the cgroup parent behind"


def test_submit_returns_futures_and_bounds_concurrency(state_dir):
    from conftest import CGROUP_PARENT, RUNTIME
    exec2 = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=CGROUP_PARENT,
                             rootfs=ROOTFS, max_concurrent_jobs=2)
    start = time.monotonic()
    futures = [exec2.submit(f"sleep 0.4; echo {i}") for i in range(4)]
    outputs = [f.result(timeout=30).stdout for f in futures]
    assert outputs == [f"{i}\n" for i in range(4)]
    assert time.monotonic() - start >= 0.8, "two at a time: at least two rounds"
    failed = exec2.submit("true", interpreter="/nonexistent")
    with pytest.raises(ociexec.ExecutorError) as info:
        failed.result(timeout=30)
    assert info.value.kind == "command_not_found"
    with pytest.raises(ociexec.InvalidOptionError):
        exec2.submit("true", memory="lots")  # bad options fail at once, nothing runs
    import gc
    del info, failed, exec2  # the exception's traceback holds this frame
    gc.collect()


def test_run_async_and_the_warm_pool(state_dir):
    import asyncio
    from conftest import CGROUP_PARENT, RUNTIME
    exec2 = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=CGROUP_PARENT,
                             rootfs=ROOTFS, pool_size=1)
    assert exec2.prewarm() == 1
    result = exec2.run("echo warm", env={"A": "1"})
    assert result.pooled and result.stdout == "warm\n"

    async def both():
        return await asyncio.gather(exec2.run_async("echo a"), exec2.run_async("exit 3"))

    a, b = asyncio.run(both())
    assert (a.exit_code, a.stdout, b.exit_code) == (0, "a\n", 3)
    del exec2  # drains the pool: the leak check after this test finds nothing of it


def test_messages_that_are_not_utf8_are_replaced_and_submit_still_resolves(state_dir):
    """A runtime's message may quote bytes that are not UTF-8 (here the interpreter's path):
    run() raises ExecutorError, not UnicodeDecodeError, and submit()'s future resolves."""
    from conftest import CGROUP_PARENT, RUNTIME
    for pool_size in (0, 1):
        exec2 = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME,
                                 cgroup_parent=CGROUP_PARENT, rootfs=ROOTFS, pool_size=pool_size)
        script = b"#!/nonexistent\xff\ntrue\n"
        with pytest.raises(ociexec.ExecutorError) as info:
            exec2.run(script)
        assert info.value.kind == "command_not_found"
        assert "\ufffd" in str(info.value)
        with pytest.raises(ociexec.ExecutorError) as info:
            exec2.submit(script).result(timeout=60)
        assert "\ufffd" in str(info.value)
        import gc
        del info, exec2
        gc.collect()


def test_durations_past_365_days_are_refused_and_30_days_run(executor):
    for far in (366 * 86400, 1e12, 10 ** 30):
        with pytest.raises(ociexec.InvalidOptionError, match="365 days"):
            executor.run("true", timeout_seconds=far)
    assert executor.run("echo ok", timeout_seconds=30 * 86400).stdout == "ok\n"
    with pytest.raises(ociexec.InvalidOptionError, match="365 days"):
        ociexec.Executor(state_dir="/tmp/unused", kill_wait=1e15)


def test_after_fork_parent_and_child_run_jobs_at_once(executor):
    """gunicorn --preload and multiprocessing fork after the parent ran jobs: the child's jobs
    get ids of its own, run at the same time as the parent's, and nothing is left behind."""
    executor.run("true")
    ociexec.execute_script("true")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            words = []
            for run in (lambda: executor.run("echo child"),
                        lambda: ociexec.run("echo child", rootfs=ROOTFS)):
                r = run()
                words.append("ok" if r.stdout == "child\n"
                             and r.container_id.startswith(f"ociexec-{os.getpid()}-") else
                             f"bad:{r.stdout!r}:{r.container_id}")
            os.write(write_end, " ".join(words).encode())
        except BaseException as e:  # noqa: BLE001 - reported through the pipe
            os.write(write_end, f"error: {e!r}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    mine = [executor.run("echo parent") for _ in range(3)]
    assert all(r.stdout == "parent\n" and r.container_id.startswith(f"ociexec-{os.getpid()}-")
               for r in mine)
    said = b""
    while chunk := os.read(read_end, 4096):
        said += chunk
    os.close(read_end)
    assert os.waitpid(pid, 0)[0] == pid
    assert said == b"ok ok"


def test_ulimit_as_a_dict_or_podman_strings(executor):
    result = executor.run("grep '^Max open files' /proc/self/limits", ulimit={"nofile": (100, 200)})
    assert result.stdout.split()[3:5] == ["100", "200"]
    assert result.limits["ulimit"] == {"nofile": (100, 200)}
    other = executor.run("true", ulimit=["fsize=4096", "core=-1:-1"])
    assert other.limits["ulimit"] == {"core": (None, None), "fsize": (4096, 4096)}
    with pytest.raises(ociexec.InvalidOptionError, match='unknown limit "files"'):
        executor.run("true", ulimit={"files": 1})
    with pytest.raises(TypeError, match="ulimit: expected ints"):
        executor.run("true", ulimit={"nofile": "many"})


def test_cpu_time_seconds_kills_a_busy_job_and_cpuset_cpus_confines_it(executor):
    busy = executor.run("echo spinning; while :; do :; done", cpu_time_seconds=0.3)
    assert busy.outcome == "cpu_time_exceeded"
    assert busy.exit_code == -1
    assert busy.stdout == "spinning\n"
    assert "CPU time limit exceeded (0.3s)" in busy.stderr
    assert busy.cpu_time >= 0.3
    assert busy.limits["cpu_time"] == 0.3
    idle = executor.run("sleep 0.5; echo rested", cpu_time_seconds=0.1)
    assert (idle.outcome, idle.stdout) == ("exited", "rested\n")
    cpu = sorted(os.sched_getaffinity(0))[-1]
    pinned = executor.run("grep Cpus_allowed_list /proc/self/status", cpuset_cpus=f"{cpu},{cpu}")
    assert pinned.stdout == f"Cpus_allowed_list:\t{cpu}\n"
    assert pinned.limits["cpuset_cpus"] == str(cpu)
    assert executor.run("true").limits["cpuset_cpus"] is None
    with pytest.raises(ociexec.InvalidOptionError, match="expected a CPU list"):
        executor.run("true", cpuset_cpus="0-")
    with pytest.raises(ociexec.InvalidOptionError, match="cpu time 0s: must be positive"):
        executor.run("true", cpu_time_seconds=0)


def test_volume_mount_and_tmpfs_take_podmans_texts(executor, tmp_path):
    tmp_path.chmod(0o755)
    (tmp_path / "in.txt").write_text("host\n")
    result = executor.run("cat /mnt/in.txt; df -k /work/t | tail -1; touch /mnt/x || true",
                          volume=f"{tmp_path}:/mnt:ro", tmpfs=["/work/t:size=2m"])
    assert result.stdout.startswith("host\n")
    assert " 2048 " in result.stdout
    assert "Read-only file system" in result.stderr
    assert not (tmp_path / "x").exists()
    tmp_path.chmod(0o777)  # the job writes as 65534
    out = executor.run("echo made > /work/out/made.txt",
                       mount=[f"type=bind,source={tmp_path},target=/work/out"])
    assert out.exit_code == 0
    assert (tmp_path / "made.txt").read_text() == "made\n"
    with pytest.raises(ociexec.InvalidOptionError, match="no named volumes"):
        executor.run("true", volume="data:/data")
    with pytest.raises(ociexec.InvalidOptionError, match="is the executor's"):
        executor.run("true", tmpfs="/proc/x")


def test_network_host_reaches_the_hosts_loopback_and_warns(executor):
    import socket
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        script = f"/bin/payload connect 127.0.0.1 {port}"
        host = executor.run(script, network="host")
        assert (host.exit_code, host.stdout) == (0, "connected\n")
        assert any("no network isolation" in w for w in host.warnings)
        none = executor.run(script, network="none")
        assert none.exit_code == 1
    with pytest.raises(ociexec.InvalidOptionError, match="expected none"):
        executor.run("true", network="bridge")


def test_network_private_reaches_the_host_loopback_only_through_its_name(executor):
    import socket
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        script = (f"grep -c host.ociexec.internal /etc/hosts; "
                  f"/bin/payload connect 169.254.1.1 {port}; /bin/payload connect 127.0.0.1 {port}")
        private = executor.run(script, network="private")
        assert private.stdout.startswith("1\nconnected\n"), private.stderr
        assert private.exit_code == 1  # its own 127.0.0.1 is not the host's
        off = executor.run("grep -c host.ociexec.internal /etc/hosts", network="private:no-host-loopback")
        assert off.stdout == "0\n"


def test_devices_a_host_node_and_a_cdi_device_from_the_executors_spec_dirs(
        executor, state_dir, tmp_path):
    from conftest import CGROUP_PARENT, RUNTIME
    result = executor.run("echo x > /dev/mynull && ls /dev/mynull", devices="/dev/null:/dev/mynull")
    assert (result.exit_code, result.stdout) == (0, "/dev/mynull\n")
    specs = tmp_path / "cdi"
    specs.mkdir(mode=0o755)
    (specs / "example.yaml").write_text(
        "cdiVersion: 0.5.0\nkind: example.test/dev\ndevices:\n- name: zero\n"
        "  containerEdits:\n    env: [EXAMPLE=zero]\n"
        "    deviceNodes: [{path: /dev/example-zero, hostPath: /dev/zero}]\n")
    (specs / "example.yaml").chmod(0o644)
    with_specs = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME,
                                  cgroup_parent=CGROUP_PARENT, rootfs=ROOTFS,
                                  cdi_spec_dirs=[specs])
    result = with_specs.run("echo $EXAMPLE; head -c 3 /dev/example-zero | wc -c",
                            devices=["example.test/dev=zero"])
    assert (result.exit_code, result.stdout) == (0, "zero\n3\n")
    with pytest.raises(ociexec.InvalidOptionError, match="gpus 2: the CDI specs name 0"):
        with_specs.run("true", gpus=2)
    with pytest.raises(ociexec.InvalidOptionError, match="expected all, or a number"):
        executor.run("true", gpus="many")
    with pytest.raises(ociexec.InvalidOptionError, match="not a character or block device"):
        executor.run("true", devices=[str(tmp_path)])
