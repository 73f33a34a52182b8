"""`ociexec worker` and `ociexec submit` against a real redis-server (conftest.py): every job
gets exactly one result, a dead worker's jobs finish on the others, a poison job ends in the
dead-letter stream, a restart of Redis loses nothing, a long job is never taken from a live
worker, and SIGTERM drains."""
import json
import os
import signal
import subprocess
import time

import pytest
import redis

from conftest import CLI


def pending_of(cluster, consumer=None):
    """The group's pending entries (of `consumer`'s only, if given); none before a worker
    made the group."""
    try:
        return cluster.client.xpending_range("ociexec:jobs", "ociexec", "-", "+", 1000,
                                             consumername=consumer)
    except redis.exceptions.ResponseError as e:
        if str(e).startswith("NOGROUP"):
            return []
        raise


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_three_workers_mixed_jobs_each_get_exactly_one_result(cluster):
    for name in ("w1", "w2", "w3"):
        cluster.start(name, "-j", "4")
    jobs = {}
    for i in range(300):
        if i % 50 == 7:
            jobs[cluster.submit("sleep 5", timeout="1s", id=i)] = ("timed_out", -1)
        elif i % 50 == 13:
            jobs[cluster.submit("/bin/payload memhog 64", memory="16m", id=i)] = ("oom_killed", None)
        else:
            jobs[cluster.submit(f"echo job {i}; exit {i % 5}", id=i)] = ("exited", i % 5)
    for job, (outcome, code) in jobs.items():
        r = cluster.result(job, timeout=180)
        assert r["outcome"] == outcome, r
        if code is not None:
            assert r["exit_code"] == code, r
        if outcome == "exited":
            assert r["stdout"] == f"job {r['id']}\n"
        assert r["attempt"] == 1 and r["job"] == job and r["worker"] in ("w1", "w2", "w3")
    # Exactly one result each: one entry per job on the results stream, none a duplicate,
    # and nothing left pending.
    entries = cluster.client.xrange("ociexec:results")
    assert len(entries) == len(jobs)
    assert sorted(e[1]["job"] for e in entries) == sorted(jobs)
    assert not any("duplicate" in e[1] for e in entries)
    assert pending_of(cluster) == []
    # The work was shared.
    workers = {json.loads(e[1]["result"])["worker"] for e in entries}
    assert len(workers) >= 2


def test_a_killed_workers_job_finishes_on_another_as_attempt_2(cluster):
    a = cluster.start("a", "--claim-idle", "2s")
    job = cluster.submit("/bin/payload sleep 3; echo finished")
    wait_for(lambda: pending_of(cluster, "a"), 30, "worker a takes the job")
    a.send_signal(signal.SIGKILL)
    a.wait()
    cluster.start("b", "--claim-idle", "2s")
    r = cluster.result(job, timeout=60)
    assert r["worker"] == "b" and r["attempt"] == 2, r
    assert r["stdout"] == "finished\n"
    assert "reclaimed, delivery 2" in cluster.log("b")
    assert pending_of(cluster) == []
    # What the killed worker left running, gc removes.
    gc = subprocess.run([CLI, "--config", cluster.config("a"), "gc"], capture_output=True,
                        text=True, timeout=60)
    assert gc.returncode == 0, gc.stderr
    del cluster.workers["a"]


def test_a_poison_job_ends_in_the_dead_letter_stream_after_three_tries(cluster):
    job = cluster.submit("/bin/payload sleep 60", id="poison")
    for attempt in range(1, 4):
        name = f"p{attempt}"
        w = cluster.start(name, "--claim-idle", "1s", "--max-attempts", "3")
        wait_for(lambda: pending_of(cluster, name), 30, f"{name} takes the poison job")
        w.send_signal(signal.SIGKILL)  # the job kills its worker, each time
        w.wait()
        subprocess.run([CLI, "--config", cluster.config(name), "gc"], capture_output=True,
                       timeout=60)
        del cluster.workers[name]
    cluster.start("survivor", "--claim-idle", "1s", "--max-attempts", "3")
    r = cluster.result(job, timeout=60)
    assert r["error"]["message"].startswith(f"job {job}: delivered 4 times"), r
    assert r["id"] == "poison" and r["attempt"] == 4
    dead = cluster.client.xrange("ociexec:dead")
    assert len(dead) == 1 and dead[0][1]["job"] == job and dead[0][1]["deliveries"] == "4"
    assert json.loads(dead[0][1]["field:job"])["id"] == "poison"
    assert pending_of(cluster) == []


def test_a_restart_of_redis_mid_run_loses_nothing(cluster):
    for name in ("r1", "r2"):
        cluster.start(name, "-j", "4")
    jobs = [cluster.submit(f"/bin/payload sleep 1; echo {i}", id=i) for i in range(16)]
    wait_for(lambda: len(pending_of(cluster)) >= 4, 30, "jobs running")
    cluster.server.stop()
    time.sleep(2)  # the workers' jobs finish meanwhile; their results wait
    cluster.server.start()
    for job in jobs:
        r = cluster.result(job, timeout=120)
        assert r["exit_code"] == 0 and r["stdout"] == f"{r['id']}\n"
    entries = cluster.client.xrange("ociexec:results")
    assert sorted(e[1]["job"] for e in entries) == sorted(jobs)
    assert not any("duplicate" in e[1] for e in entries)
    assert "reconnected" in cluster.log("r1") + cluster.log("r2")


def test_a_long_job_is_not_reclaimed_while_its_worker_lives(cluster):
    cluster.start("long", "--claim-idle", "2s")
    job = cluster.submit("/bin/payload sleep 20; echo done", timeout="60s")
    wait_for(lambda: pending_of(cluster, "long"), 30, "worker long takes the job")
    cluster.start("other", "--claim-idle", "2s")
    r = cluster.result(job, timeout=60)
    assert r["worker"] == "long" and r["attempt"] == 1, r
    assert "reclaimed" not in cluster.log("other")
    assert len(cluster.client.xrange("ociexec:results")) == 1


def test_sigterm_drains_running_jobs_then_exits_0(cluster):
    w = cluster.start("drain", "-j", "4")
    jobs = [cluster.submit("/bin/payload sleep 2; echo ok") for _ in range(4)]
    wait_for(lambda: len(pending_of(cluster, "drain")) == 4, 30, "all four running")
    w.send_signal(signal.SIGTERM)
    assert w.wait(30) == 0
    for job in jobs:
        r = cluster.result(job, timeout=5)
        assert r["stdout"] == "ok\n" and r["attempt"] == 1
    assert pending_of(cluster) == []
    # A job added afterwards stays queued for the next worker.
    later = cluster.submit("echo later")
    time.sleep(1)
    assert cluster.client.get(f"ociexec:result:{later}") is None


def test_submit_waits_and_exits_as_run_would(cluster, tmp_path):
    cluster.start("s")
    url = cluster.server.url
    # One job from run's flags: this host's files, environment and stdin go as data.
    (tmp_path / "in.txt").write_bytes(b"hello\x00\xff")
    (tmp_path / "stdin.txt").write_text("from stdin\n")
    p = subprocess.run(
        [CLI, "submit", "--redis", url, "--wait", "--copy-in", f"{tmp_path}/in.txt:data/in.bin",
         "-e", "FOO=bar", "--stdin", str(tmp_path / "stdin.txt"), "--copy-out", "out.txt",
         "--output-dir", str(tmp_path / "out"), "-c",
         "od -An -c data/in.bin | tr -s ' '; echo $FOO $1; cat; echo made > out.txt; exit 3",
         "--", "arg1"],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 3, p.stderr
    assert p.stdout == " h e l l o \\0 377\nbar arg1\nfrom stdin\n"
    assert (tmp_path / "out" / "out.txt").read_text() == "made\n"
    # Without --wait: the job's id, and the job runs anyway.
    p = subprocess.run([CLI, "submit", "--redis", url, "-c", "echo later"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0
    assert cluster.result(p.stdout.strip())["stdout"] == "later\n"
    # Timed out: 124, with the contract's line.
    p = subprocess.run([CLI, "submit", "--redis", url, "--wait", "--timeout", "1s", "-c",
                        "sleep 5"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 124 and "Execution timeout (1s)" in p.stderr
    # Job lines (--jobs): a result line each.
    line = json.dumps({"script": "echo from-submit; exit 3", "id": "one"})
    p = subprocess.run([CLI, "submit", "--redis", url, "--wait", "--jobs", "-"], input=line,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["stdout"] == "from-submit\n" and r["id"] == "one" and r["worker"] == "s"
    assert r["exit_code"] == 3
    # Bad jobs are refused here, in one line, and nothing is sent.
    before = cluster.client.xlen("ociexec:jobs")
    bad = subprocess.run([CLI, "submit", "--redis", url, "--jobs", "-"],
                         input=json.dumps({"script": "true", "memory": "lots"}),
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 125
    assert "memory" in json.loads(bad.stdout)["error"]["message"]
    bad = subprocess.run([CLI, "submit", "--redis", url, "--memory", "lots", "-c", "true"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 125 and len(bad.stderr.splitlines()) == 1
    assert "--memory" in bad.stderr
    assert cluster.client.xlen("ociexec:jobs") == before


def test_a_bad_entry_gets_an_error_result_and_the_worker_goes_on(cluster):
    cluster.start("e")
    no_job = cluster.client.xadd("ociexec:jobs", {"script": "echo hi"})
    bad = cluster.client.xadd("ociexec:jobs", {"job": "{not json"})
    good = cluster.submit("echo fine")
    assert "no field \"job\"" in cluster.result(no_job)["error"]["message"]
    assert cluster.result(bad)["error"]["kind"] == "invalid_argument"
    assert cluster.result(good)["stdout"] == "fine\n"


def test_credentials_never_on_the_command_line(cluster):
    p = subprocess.run([CLI, "worker", "--redis", "redis://user:secret@127.0.0.1:1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 125
    assert "OCIEXEC_REDIS_PASSWORD" in p.stderr and len(p.stderr.splitlines()) == 1
    # An ACL user whose password comes from the environment.
    cluster.client.acl_setuser("jobs", enabled=True, passwords=["+s3cret"], keys=["ociexec:*"],
                               commands=["+@all"])
    cluster.start("acl")  # the default user, for the fixture's own checks
    env = {**os.environ, "OCIEXEC_REDIS_PASSWORD": "s3cret"}
    url = f"redis://jobs@127.0.0.1:{cluster.server.port}"
    p = subprocess.run([CLI, "submit", "--redis", url, "--wait", "--json", "-c", "echo acl"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["stdout"] == "acl\n"
    wrong = subprocess.run([CLI, "submit", "--redis", url, "-c", "true"],
                           capture_output=True, text=True, timeout=30,
                           env={**os.environ, "OCIEXEC_REDIS_PASSWORD": "nope"})
    assert wrong.returncode == 125 and "AUTH" in wrong.stderr


def test_the_python_client_keeps_the_local_contract(cluster):
    from ociexec import ExecutorError, InvalidOptionError
    from ociexec.remote import Client
    cluster.start("py", "-j", "4")
    client = Client(cluster.server.url)
    assert client.execute_script("echo hi; exit 2") == (2, "hi\n", "")
    code, out, err = client.execute_script("echo partial; sleep 5", timeout_seconds=1)
    assert code == -1 and out == "partial\n"
    assert err.splitlines()[-1].startswith("Execution timeout (1s)")
    futures = [client.submit(f"echo {i}", env={"N": str(i)}) for i in range(8)]
    assert [f.result(timeout=60).stdout for f in futures] == [f"{i}\n" for i in range(8)]
    r = client.run("cat in.bin > out.bin", files={"in.bin": b"\x00\x01\xff"},
                   copy_out=["out.bin"])
    assert r.files["out.bin"].data == b"\x00\x01\xff" and r.worker == "py" and r.attempt == 1
    with pytest.raises(InvalidOptionError, match="copy_in names paths on this host"):
        client.run("true", copy_in="/etc/hostname")
    with pytest.raises(InvalidOptionError) as bad:  # refused by the worker, as locally
        client.run("true", memory="lots")
    assert bad.value.kind == "invalid_argument"
    assert isinstance(bad.value, ExecutorError)
