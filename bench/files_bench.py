"""Files and live output, measured: copy-out throughput through the library, and the CLI's
memory while it passes a flood of output through. Writes docs/benchmarks-files.md.

    files_bench.py CLI ROOTFS OUT.md [ROUNDS]

Exit 3 when a target is missed. Run by scripts/bench-files.sh, as root."""

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import ociexec

MIB = 1 << 20


def copy_out_figures(rootfs, rounds):
    """Median wall time of a job that writes 100 MiB, with and without reading it back."""
    state = tempfile.mkdtemp(prefix="ociexec-bench-files-", dir="/dev/shm")
    executor = ociexec.Executor(state_dir=state, runtime="crun", tmpfs_size="128m",
                                rootfs=rootfs)
    script = f"/bin/payload write out.bin {100 * MIB} >/dev/null"
    times = {"with": [], "without": []}
    for _ in range(rounds):
        for kind in ("without", "with"):  # alternating: the machine's moods fall on both
            options = {"copy_out": "out.bin", "copy_out_file_cap": "128m"} if kind == "with" else {}
            start = time.perf_counter()
            result = executor.run(script, timeout_seconds=60, **options)
            times[kind].append(time.perf_counter() - start)
            if result.exit_code != 0:
                raise SystemExit(f"the job failed: {result.stderr}")
            if kind == "with" and len(result.files["out.bin"].data) != 100 * MIB:
                raise SystemExit("copy-out read the wrong size")
    return statistics.median(times["with"]), statistics.median(times["without"])


def vm_hwm_kib(pid):
    """The process's own peak RSS so far (VmHWM), or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cli_peak_rss_kib(cli, rootfs, mib):
    """The CLI's own peak RSS while it passes `mib` MiB through: its VmHWM, sampled as the
    output is read (ru_maxrss would count what a forked child had before its exec)."""
    proc = subprocess.Popen([cli, "run", "--runtime", "crun", "--rootfs", rootfs, "--timeout",
                             "120s", "-c", f"/bin/payload flood {mib}; sleep 0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen, peak = 0, 0
    while chunk := proc.stdout.read(1 << 20):
        seen += len(chunk)
        peak = max(peak, vm_hwm_kib(proc.pid) or 0)
    peak = max(peak, vm_hwm_kib(proc.pid) or 0)  # the job sleeps: the CLI is still there
    proc.wait()
    if proc.returncode != 0 or seen != mib * MIB:
        raise SystemExit(f"flood of {mib} MiB: exit {proc.returncode}, {seen} bytes passed")
    return peak


def main():
    cli, rootfs, out = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    with_read, without = copy_out_figures(rootfs, rounds)
    cost = max(with_read - without, 1e-6)
    rate = 100 / cost
    small = cli_peak_rss_kib(cli, rootfs, 10)
    large = cli_peak_rss_kib(cli, rootfs, 1024)
    rows = [
        ("copy-out of a 100 MiB file (library, crun): job with it vs without, p50",
         f"{with_read * 1000:.0f} ms", f"without {without * 1000:.0f} ms",
         f"+{cost * 1000:.0f} ms = {rate:.0f} MiB/s", ">= 500 MiB/s", rate >= 500),
        ("`ociexec run` passing 1 GiB of output through: peak RSS vs 10 MiB",
         f"{large} KiB", f"10 MiB: {small} KiB", f"+{large - small} KiB", "<= +8192 KiB (flat)",
         large - small <= 8192),
    ]
    lines = [
        "# Files and live output benchmark",
        "",
        "Written by `scripts/bench-files.sh`; every figure is from one run on this machine.",
        "",
        f"- Machine: {os.cpu_count()} cores, kernel {platform.release()}",
        f"- {rounds} rounds of each copy-out job, alternating; the job writes 100 MiB into its "
        "tmpfs work dir (`/bin/payload write`), and reads it back or not",
        "- Peak RSS: the CLI's own `VmHWM`, sampled while this script reads its output as fast "
        "as it comes",
        "",
        "| measure | ociexec | reference | difference | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, value, ref, diff, target, met in rows:
        lines.append(f"| {name} | {value} | {ref} | {diff} | {target} | {'yes' if met else 'NO'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(out, "w") as f:
        f.write(text)
    return 0 if all(r[-1] for r in rows) else 3


if __name__ == "__main__":
    sys.exit(main())
