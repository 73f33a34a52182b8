"""The old executor's contract, literally: execute_script(script, timeout_seconds=300)
-> (exit_code, stdout, stderr), on the default executor and the built-in host-view rootfs."""

import inspect
import time

import ociexec
from ociexec import execute_script


def test_a_quick_script_completes_before_its_timeout():
    start = time.monotonic()
    exit_code, stdout, stderr = execute_script("echo hello", timeout_seconds=10)
    assert (exit_code, stdout, stderr) == (0, "hello\n", "")
    assert time.monotonic() - start < 10


def test_a_long_script_is_killed_by_the_timeout_promptly():
    start = time.monotonic()
    exit_code, stdout, stderr = execute_script("echo started; sleep 60", timeout_seconds=2)
    elapsed = time.monotonic() - start
    assert exit_code == -1
    assert stdout == "started\n"
    assert stderr.splitlines()[-1].startswith("Execution timeout (2s)")
    assert 2 <= elapsed < 3


def test_the_timeout_is_configurable():
    exit_code, _, stderr = execute_script("sleep 5", timeout_seconds=1)
    assert exit_code == -1
    assert "Execution timeout (1s)" in stderr
    exit_code, stdout, _ = execute_script("sleep 0.5; echo done", timeout_seconds=5)
    assert (exit_code, stdout) == (0, "done\n")


def test_the_timeout_message_is_clear_and_follows_what_the_script_wrote():
    _, _, stderr = execute_script("echo oops >&2; printf partial >&2; sleep 60", timeout_seconds=1)
    lines = stderr.splitlines()
    assert lines[0] == "oops"
    assert lines[1] == "partial"  # the message starts a line of its own
    assert lines[-1] == "Execution timeout (1s): the job ran past its time limit and was killed"


def test_the_default_timeout_is_300_seconds():
    assert inspect.signature(execute_script).parameters["timeout_seconds"].default == 300
    assert inspect.signature(ociexec.run).parameters["timeout_seconds"].default == 300
    assert ociexec.run("true").limits["timeout"] == 300.0


def test_a_failing_script_is_its_exit_code_not_an_exception():
    exit_code, stdout, stderr = execute_script("echo out; echo err >&2; exit 3")
    assert (exit_code, stdout, stderr) == (3, "out\n", "err\n")


def test_python3_scripts_run_on_the_built_in_rootfs():
    exit_code, stdout, _ = execute_script("#!/usr/bin/python3\nprint(6 * 7)\n", timeout_seconds=30)
    assert (exit_code, stdout) == (0, "42\n")
