#!/usr/bin/env bash
# The GPU proof of docs/devices.md, for a host with an NVIDIA GPU and its driver (no CUDA
# toolkit needed): a job given the GPU through CDI lists it with nvidia-smi and computes on it
# (through the driver's libcuda, from python3's ctypes), a job without it cannot open
# /dev/nvidia0, and the time a GPU job takes is set against a plain one's.
#
#   scripts/gpu-check.sh [OCIEXEC]        OCIEXEC: the command (default build/ociexec)
#
# Root. Where nvidia-ctk is missing, the CDI spec is made here from the host's /dev/nvidia*
# nodes and the driver's libraries in the loader cache. Everything it writes goes under
# $OUT (default /tmp/ociexec-gpu), the report in $OUT/report.txt. Exit 77: no GPU here.
set -euo pipefail

ociexec=$(readlink -f "${1:-build/ociexec}")
out=${OUT:-/tmp/ociexec-gpu}
runs=${RUNS:-10}
if [[ ! -e /dev/nvidia0 ]]; then
  echo "gpu-check: no /dev/nvidia0 on this host: nothing to prove here" >&2
  exit 77
fi
mkdir -p "$out/cdi"
chmod 0755 "$out" "$out/cdi"
report=$out/report.txt
: >"$report"
say() { echo "$*" | tee -a "$report"; }

# The spec: nvidia-ctk's where it is installed, else one made from what the host has.
spec=$out/cdi/nvidia.yaml
if command -v nvidia-ctk >/dev/null; then
  nvidia-ctk cdi generate --output="$spec" >/dev/null
  say "spec: nvidia-ctk cdi generate"
else
  {
    echo "cdiVersion: 0.5.0"
    echo "kind: nvidia.com/gpu"
    echo "devices:"
    gpus=()
    for node in /dev/nvidia[0-9]*; do
      n=${node#/dev/nvidia}
      gpus+=("$n")
      printf -- '- name: "%s"\n  containerEdits:\n    deviceNodes:\n    - path: %s\n' "$n" "$node"
    done
    printf -- '- name: all\n  containerEdits:\n    deviceNodes:\n'
    for n in "${gpus[@]}"; do printf '    - path: /dev/nvidia%s\n' "$n"; done
    echo "containerEdits:"
    echo "  deviceNodes:"
    for node in /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools /dev/nvidia-modeset; do
      [[ -e $node ]] && printf '  - path: %s\n' "$node"
    done
    echo "  mounts:"
    # The driver's user-space libraries and tools (each name and what it links to), each at
    # its own path.
    {
      ldconfig -p | awk '/lib(cuda|nvidia-ml|nvidia-ptxjitcompiler|nvidia-gpucomp|nvidia-nvvm)\.so/ && /x86-64/ {print $NF}'
      command -v nvidia-smi || true
    } | while read -r f; do
      echo "$f"
      readlink -f "$f"
    done | sort -u | while read -r p; do
      printf '  - hostPath: %s\n    containerPath: %s\n    options: [ro, nosuid, nodev, bind]\n' "$p" "$p"
    done
  } >"$spec"
  say "spec: made from /dev/nvidia* and the loader cache (no nvidia-ctk here)"
fi
chmod 0644 "$spec"
config=$out/config.yaml
printf 'cdi_spec_dirs: %s\n' "$out/cdi" >"$config"

run() { "$ociexec" --config "$config" run --timeout 120s "$@"; }
say "host: $(uname -r), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | sed -n 1p)"
say "doctor: $("$ociexec" --config "$config" doctor 2>&1 | grep -i 'cdi devices' | sed -n 1p)"

say "== a job with --gpus all: nvidia-smi -L"
run --gpus all -c 'nvidia-smi -L' | tee -a "$report"

say "== a job with --gpus all: a computation on the GPU (libcuda through ctypes)"
cat >"$out/compute.py" <<'EOF'
import ctypes, sys
cuda = ctypes.CDLL("libcuda.so.1")
def ok(rc, what):
    if rc != 0:
        sys.exit(f"{what}: CUDA error {rc}")
ok(cuda.cuInit(0), "cuInit")
dev = ctypes.c_int()
ok(cuda.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
name = ctypes.create_string_buffer(100)
ok(cuda.cuDeviceGetName(name, 100, dev), "cuDeviceGetName")
ctx = ctypes.c_void_p()
ok(cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev), "cuCtxCreate")
n = 1 << 20
ptr = ctypes.c_uint64()
ok(cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(4 * n)), "cuMemAlloc")
ok(cuda.cuMemsetD32_v2(ptr, ctypes.c_uint(42), ctypes.c_size_t(n)), "cuMemsetD32")
host = (ctypes.c_uint32 * n)()
ok(cuda.cuMemcpyDtoH_v2(host, ptr, ctypes.c_size_t(4 * n)), "cuMemcpyDtoH")
assert all(v == 42 for v in host), "the GPU wrote something else"
print(f"gpu compute ok: {n} words set to 42 on {name.value.decode()} and read back")
EOF
chmod 0644 "$out/compute.py"
run --gpus all --copy-in "$out/compute.py" -c 'python3 compute.py' | tee -a "$report"

say "== a job without the GPU cannot open /dev/nvidia0"
run -c 'cat /dev/nvidia0 2>&1; ls /dev | grep -c nvidia' | tee -a "$report" || true

say "== time per job, ms (p50 of $runs): plain -c true, and --gpus all -c true"
p50() {
  local times=()
  for ((i = 0; i < runs; i++)); do
    local t0 t1
    t0=$(date +%s%N)
    run "$@" -c true >/dev/null
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}
say "plain: $(p50) ms"
say "gpus all: $(p50 --gpus all) ms"
say "gpu-check: done; report in $report"
