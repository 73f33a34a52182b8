"""Live output: on_output= and Executor.stream(), on an executor of our own."""

import asyncio
import threading
import time

import pytest

import ociexec


def test_on_output_gets_each_stream_as_it_is_written(executor):
    pieces = []
    threads = set()

    def on_output(stream, data):
        pieces.append((stream, data, time.monotonic()))
        threads.add(threading.get_ident())

    result = executor.run("echo first; echo oops >&2; /bin/payload sleep 1.5; echo second",
                          on_output=on_output, timeout_seconds=20)
    ended = time.monotonic()
    assert result.exit_code == 0
    out = b"".join(d for s, d, _ in pieces if s == "stdout")
    err = b"".join(d for s, d, _ in pieces if s == "stderr")
    assert (out, err) == (b"first\nsecond\n", b"oops\n")
    assert result.stdout == "first\nsecond\n"  # the result holds the same
    first_at = next(t for s, d, t in pieces if s == "stdout")
    assert ended - first_at > 1.0  # "first" came while the job ran
    assert threading.get_ident() not in threads  # called from the job's own thread


def test_an_exception_in_on_output_ends_its_calls_and_the_result_says_so(executor):
    calls = []

    def on_output(stream, data):
        calls.append(data)
        raise ValueError("no room")

    result = executor.run("echo one; /bin/payload sleep 0.3; echo two", on_output=on_output)
    assert result.stdout == "one\ntwo\n"
    assert calls == [b"one\n"]
    assert len(result.warnings) == 1 and "no room" in result.warnings[0]


def test_on_output_must_be_callable(executor):
    with pytest.raises(TypeError, match="on_output: expected a callable"):
        executor.run("true", on_output="print")


def test_stream_yields_output_events_then_the_result(executor):
    async def main():
        job = executor.stream("echo a; /bin/payload sleep 1; echo b >&2; exit 4",
                              timeout_seconds=20)
        events = []
        async for event in job:
            events.append((event.stream, event.data, time.monotonic()))
        return events, await job.result()

    events, result = asyncio.run(main())
    assert [(s, d) for s, d, _ in events] == [("stdout", b"a\n"), ("stderr", b"b\n")]
    assert events[1][2] - events[0][2] > 0.5  # each event came as it was written
    assert result.exit_code == 4 and result.stdout == "a\n"


def test_a_stream_that_is_not_read_never_holds_the_job(executor):
    async def main():
        # Far more than the window: the job's writes wait for the reader, until result()
        # says the rest is not wanted.
        job = executor.stream("/bin/payload flood 64; echo done >&2", window=4,
                              timeout_seconds=20)
        first = await job.__anext__()
        return first, await job.result()

    first, result = asyncio.run(main())
    assert first.stream == "stdout" and first.data
    assert result.exit_code == 0 and result.stderr == "done\n"


def test_stream_refuses_on_output(executor):
    async def main():
        executor.stream("true", on_output=print)

    with pytest.raises(TypeError, match="the stream takes the output"):
        asyncio.run(main())
