"""Jobs through Redis (ociexec worker) against local `ociexec batch`, on the same machine and
rootfs, in one run (issue 19's figures): jobs/s of N `true` jobs, and the queue's own cost
per job, the Redis round trips a job takes (producer XADD; worker XREADGROUP, SET, XADD,
LPUSH, EXPIRE, XACK; producer BLPOP, GET) timed without any container, on the worker's
own client (bench/queue_bench.cc). Writes a markdown
table; exit 3 when the overhead target (<= 1 ms a job) is missed.
    worker_bench.py CLI ROOTFS OUT.md [JOBS]"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    cli, rootfs, out = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    tmp = tempfile.mkdtemp(prefix="ociexec-worker-bench-")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
         "--appendonly", "yes", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        r = redis.Redis(port=port, decode_responses=True)
        for _ in range(200):
            try:
                r.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        config = os.path.join(tmp, "c.yaml")
        with open(config, "w") as f:
            f.write(f"state_dir: {tmp}/state\nrootfs: {rootfs}\nruntime: runc\n")
        line = json.dumps({"script": "true"})
        lines = "\n".join([line] * n) + "\n"

        start = time.monotonic()
        subprocess.run([cli, "--config", config, "batch", "-j", "8"], input=lines, text=True,
                       stdout=subprocess.DEVNULL, check=True)
        local = n / (time.monotonic() - start)

        def through_redis(count_workers, j):
            r.flushall()
            procs = []
            for i in range(count_workers):
                cfg = os.path.join(tmp, f"w{i}.yaml")
                with open(cfg, "w") as f:
                    f.write(f"state_dir: {tmp}/state-w{i}\nrootfs: {rootfs}\nruntime: runc\n")
                procs.append(subprocess.Popen(
                    [cli, "--config", cfg, "worker", "--redis", f"redis://127.0.0.1:{port}",
                     "-j", str(j), "--consumer", f"bench-{i}"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            workers.extend(procs)
            # Every worker reading: a consumer shows in its group after its first read.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if len(r.xinfo_consumers("ociexec:jobs", "ociexec")) >= count_workers:
                        break
                except redis.exceptions.ResponseError:
                    pass  # no group yet
                time.sleep(0.05)
            begin = time.monotonic()
            ids = [r.xadd("ociexec:jobs", {"job": line}) for _ in range(n)]
            for job in ids:
                r.blpop(f"ociexec:done:{job}", timeout=300)
            rate = n / (time.monotonic() - begin)
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(60)
            return rate

        one = through_redis(1, 8)
        two = through_redis(2, 4)

        # The queue's own round trips for one job, with no container, on the worker's client.
        queue_bench = os.path.join(os.path.dirname(cli), "bench", "ociexec_queue_bench")
        overhead_ms = float(subprocess.run([queue_bench, str(port), "2000"], capture_output=True,
                                           text=True, check=True).stdout)
    finally:
        for p in workers:
            if p.poll() is None:
                p.kill()
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    met = overhead_ms <= 1.0
    table = [
        "# Jobs through Redis (ociexec worker) against local batch",
        "",
        f"`scripts/bench-worker.sh`: {n} `/bin/true` jobs on the busybox test rootfs with runc, "
        "8 at once in every row; Redis 7 on 127.0.0.1 with AOF on.",
        "",
        "| path | jobs/s | vs local batch |",
        "|---|---|---|",
        f"| `ociexec batch -j 8` (local) | {local:.1f} | 1.00x |",
        f"| 1 worker, `-j 8` | {one:.1f} | {one / local:.2f}x |",
        f"| 2 workers on this host, `-j 4` each | {two:.1f} | {two / local:.2f}x |",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| the queue's own cost per job (the 9 Redis round trips of one job, "
        f"no container; hiredis, as the worker) <= 1 ms | {overhead_ms:.3f} ms | {'yes' if met else 'NO'} |",
        "",
    ]
    text = "\n".join(table)
    print(text)
    with open(out, "w") as f:
        f.write(text)
    return 0 if met else 3


if __name__ == "__main__":
    sys.exit(main())
