"""Type-checked with `mypy --strict` against the package's stubs (ociexec/__init__.pyi) by
test_typing.py, and run by it: every field of what the package returns is used with the type
the stubs give it, so a stub that differs from what is returned fails one or the other."""

import asyncio
from concurrent.futures import Future
from typing import Optional

import ociexec


def use_result(result: ociexec.Result) -> None:
    code: int = result.exit_code
    out: str = result.stdout
    err: str = result.stderr
    raw: bytes = result.stdout_bytes + result.stderr_bytes
    outcome: ociexec.Outcome = result.outcome
    assert outcome in ("exited", "signaled", "timed_out", "oom_killed", "cpu_time_exceeded")
    signal: Optional[int] = result.signal
    wall: float = result.wall_time
    cpu: Optional[float] = result.cpu_time
    peak: Optional[int] = result.peak_memory
    cut: bool = result.stdout_truncated or result.stderr_truncated
    runtime: ociexec.ResultRuntime = result.runtime
    name: str = runtime["name"] + runtime["version"]
    cid: str = result.container_id
    pooled: bool = result.pooled
    warnings: list[str] = result.warnings
    limits: ociexec.Limits = result.limits
    unenforced: list[str] = limits["unenforced"]
    memory: Optional[int] = limits["memory"]
    nofile = limits["ulimit"].get("nofile", (None, None))
    soft: Optional[int] = nofile[0]
    files: dict[str, ociexec.CopiedFile] = result.files
    for path, copied in files.items():
        data: bytes = copied.data
        why: Optional[str] = copied.error
        mode: int = copied.mode
        print(path, len(data), why, oct(mode), copied.truncated)
    exit_code, stdout, stderr = result
    print(code, out, err, raw, signal, wall, cpu, peak, cut, name, cid, pooled, warnings,
          unenforced, memory, soft, exit_code, stdout, stderr)


async def use_async(executor: ociexec.Executor) -> None:
    result: ociexec.Result = await executor.run_async("echo async", 10)
    use_result(result)
    job = executor.stream("echo streamed", 10)
    async for event in job:
        stream: str = event.stream
        piece: bytes = event.data
        print(stream, piece)
    use_result(await job.result())


def main(state_dir: str, rootfs: str, runtime_name: str) -> None:
    with ociexec.Executor(state_dir=state_dir, runtime=runtime_name, rootfs=rootfs, config=None,
                          kill_wait_seconds=5.0, pool_size=1, memory="256m",
                          pids_limit=64) as executor:
        info: ociexec.RuntimeInfo = executor.runtime
        print(info["name"], info["path"], info["version"])
        use_result(executor.run("echo hi; echo out > f.txt", 10, copy_out=["f.txt"],
                                ulimit={"nofile": 256}))
        future: Future[ociexec.Result] = executor.submit("echo submitted", 10)
        use_result(future.result())
        asyncio.run(use_async(executor))
        triple: tuple[int, str, str] = executor.execute_script("exit 3", 10)
        assert triple == (3, "", "")
        ready: int = executor.prewarm(timeout_seconds=1.0)
        removed: list[str] = executor.collect_garbage()
        print(ready, removed)
    try:
        ociexec.pull_image("oci:/nonexistent", image_store=state_dir + "/store", config=None)
    except ociexec.ImageNotFound as error:
        kind: str = error.kind
        assert kind == "image_not_found"
    images: list[ociexec.ImageInfo] = ociexec.list_images(image_store=state_dir + "/store")
    assert images == []


if __name__ == "__main__":
    import sys

    main(sys.argv[1], sys.argv[2], sys.argv[3])
