#!/usr/bin/env bash
# The GPU check, in one script, for a machine with a CUDA GPU whose python3
# has PyTorch and which reaches no network:
#   1. probes the machine (PyTorch and its CUDA, the GPU, the compiler, CMake, ninja);
#   2. unpacks the Debian packages of .device-bundle/ (scripts/device/make_bundle.sh,
#      run beforehand where apt-get works) into a folder of its own;
#   3. configures and builds TraceNAS against that PyTorch's LibTorch;
#   4. runs the CUDA tests (every test whose name holds "Cuda");
#   5. runs the scale benchmark on the GPU (--set device=cuda);
# and writes what each step gave to ONE JSON file: the first argument, else
# $OUT/device.json, else build-device/device.json. A failed step is recorded
# (exit status, seconds, the end of its log) and the steps that need it are
# skipped; the script itself exits 0 once the JSON is written.
#
#   bash scripts/device/make_bundle.sh            # here, once
#   bash scripts/device/run.sh [out.json]         # there (carry .device-bundle)
#
# Environment: TN_DEVICE_WORK (default /tmp/tracenas-device) for the build and
# logs; TN_TORCH_PREFIX to build against a LibTorch other than python3's (its
# CMake prefix, e.g. /usr/lib/x86_64-linux-gnu/cmake on Debian); TN_BENCH_SHAPES
# (default llama-3.2-1b,bench) for the benchmark.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work=${TN_DEVICE_WORK:-/tmp/tracenas-device}
bundle=$root/.device-bundle
out_json=${1:-${OUT:+$OUT/device.json}}
out_json=${out_json:-$root/build-device/device.json}
deps=$work/deps
build=$work/build
steps=$work/steps
mkdir -p "$work" "$steps" "$(dirname "$out_json")"
rm -f "$steps"/*

# step NAME COMMAND...: runs COMMAND with its output in $work/NAME.log and
# records its exit status and milliseconds in $steps/NAME.
step() {
  local name=$1
  shift
  local t0
  t0=$(date +%s%N)
  "$@" >"$work/$name.log" 2>&1
  local rc=$?
  echo "$rc $((($(date +%s%N) - t0) / 1000000))" >"$steps/$name"
  echo "device: $name: exit $rc" >&2
  return $rc
}

ok() { [ -f "$steps/$1" ] && [ "$(cut -d' ' -f1 "$steps/$1")" = 0 ]; }

probe() {
  python3 - <<'PY'
import json, shutil, subprocess
info = {}
try:
    import torch
    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    info["cxx11_abi"] = bool(torch.compiled_with_cxx11_abi())
    info["cmake_prefix"] = torch.utils.cmake_prefix_path
    info["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = p.name
        info["gpu_memory_bytes"] = p.total_memory
except Exception as e:  # no PyTorch: TN_TORCH_PREFIX must say where LibTorch is
    info["torch_error"] = str(e)
for tool, args in [("c++", ["--version"]), ("cmake", ["--version"]), ("ninja", ["--version"]),
                   ("nvcc", ["--version"])]:
    path = shutil.which(tool)
    info[tool] = subprocess.run([path] + args, capture_output=True, text=True).stdout.splitlines()[0] \
        if path else None
print(json.dumps(info))
PY
}

unpack() {
  [ -d "$bundle" ] || { echo "no $bundle: run scripts/device/make_bundle.sh and carry it"; return 1; }
  (cd "$bundle" && sha256sum -c --quiet SHA256SUMS) || return 1
  rm -rf "$deps"
  mkdir -p "$deps"
  for f in "$bundle"/*.deb; do dpkg-deb -x "$f" "$deps" || return 1; done
  # pkg-config and CMake files that name /usr point into the bundle instead.
  grep -rlZ --include='*.pc' '^prefix=/usr' "$deps" | xargs -0 -r sed -i "s|^prefix=/usr|prefix=$deps/usr|"
  du -sh "$deps"
}

configure() {
  local abi=$1 torch_prefix=$2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$deps/usr;$torch_prefix" \
    -DCMAKE_INCLUDE_PATH="$deps/usr/include" \
    -DCMAKE_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu" \
    -DCMAKE_CXX_FLAGS="-D_GLIBCXX_USE_CXX11_ABI=$abi" \
    -DCMAKE_BUILD_RPATH="$deps/usr/lib/x86_64-linux-gnu" \
    -DTRACENAS_BUILD_TESTS=ON -DTRACENAS_BUILD_BENCH=ON
}

compile() { cmake --build "$build" -j "$(nproc)"; }

cuda_tests() {
  "$build/bin/tracenas_tests" --gtest_filter='*Cuda*' --gtest_output="json:$work/cuda_tests.json"
}

bench() {
  OMP_WAIT_POLICY=PASSIVE "$build/bin/tracenas_bench_scale" \
    --shapes "${TN_BENCH_SHAPES:-llama-3.2-1b,bench}" --threads "$(nproc)" \
    --dir "$work/scale" --set device=cuda
}

step probe probe
abi=1
torch_prefix=${TN_TORCH_PREFIX:-}
if ok probe; then
  read -r abi_py prefix_py < <(python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))
print(int(i.get("cxx11_abi", True)), i.get("cmake_prefix", ""))' "$work/probe.log")
  abi=${abi_py:-1}
  torch_prefix=${torch_prefix:-$prefix_py}
fi

step unpack unpack
if ok unpack && [ -n "$torch_prefix" ]; then
  if [ "$abi" = 0 ]; then
    # Debian's libraries use the C++11 string ABI; a LibTorch built with the old
    # one cannot share std::string with them. Recorded, not worked around.
    echo "this LibTorch uses the pre-C++11 ABI; the bundle's libraries do not" >"$work/configure.log"
    echo "1 0" >"$steps/configure"
  else
    step configure configure "$abi" "$torch_prefix"
  fi
fi
ok configure && step build compile
if ok build; then
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  step cuda_tests cuda_tests
  step bench bench
fi

python3 - "$work" "$out_json" <<'PY'
import json, os, sys
work, out = sys.argv[1], sys.argv[2]
def tail(name, lines=40):
    path = os.path.join(work, name + ".log")
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as f:
        return f.read().splitlines()[-lines:]
result = {"steps": {}}
for name in ["probe", "unpack", "configure", "build", "cuda_tests", "bench"]:
    path = os.path.join(work, "steps", name)
    if not os.path.exists(path):
        result["steps"][name] = {"ran": False}
        continue
    rc, ms = open(path).read().split()
    entry = {"ran": True, "exit": int(rc), "seconds": int(ms) / 1000}
    if int(rc) != 0:
        entry["log_tail"] = tail(name)
    result["steps"][name] = entry
try:
    result["machine"] = json.loads(open(os.path.join(work, "probe.log")).read().splitlines()[-1])
except Exception:
    result["machine"] = None
try:
    result["cuda_tests"] = json.load(open(os.path.join(work, "cuda_tests.json")))
except Exception:
    result["cuda_tests"] = None
bench = None
log = os.path.join(work, "bench.log")
if os.path.exists(log):
    for line in open(log, errors="replace"):
        if line.startswith('{"benchmark"'):
            bench = json.loads(line)
    result["bench_text"] = [l.rstrip("\n") for l in open(log, errors="replace")
                            if not l.startswith("{")][-60:]
result["bench"] = bench
with open(out, "w") as f:
    json.dump(result, f, indent=1)
print("device: wrote " + out, file=sys.stderr)
PY
