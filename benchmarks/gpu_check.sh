#!/usr/bin/env bash
# The GPU checks of issue 14 in one device call: the CUDA tests (equivalence of both engines'
# dropout masks, tf32 and auto-sized populations, batched tuning end to end) and `make bench`'s
# part 9 (per model-epoch against the fp32 limit, the MNIST study end to end, tuning).
#
#   benchmarks/gpu_check.sh prepare   here: wheels for what the GPU machine lacks (.whl/) and MNIST
#                                     gzipped (.mnist/), both ignored by git (~35 MB together)
#   benchmarks/gpu_check.sh device    there: installs the wheels, unpacks MNIST, runs the checks;
#                                     logs go to $OUT (or ./gpu-out)
#
# With the device tool: run(command="benchmarks/gpu_check.sh device", carry=[".whl", ".mnist"],
# timeout_s=560). Without CUDA, `device` still runs: the CUDA tests skip and part 9 says so,
# which is how this script itself is checked on a CPU machine.
#
# Time limits, in seconds, for a short lease: GPU_TESTS_S (CUDA tests, 150), GPU_BENCH_S (part 9,
# 300; 0 skips it), GPU_REST_S (the three files' CPU tests, 60; 0 skips them). GPU_PROFILE and
# GPU_PROFILE_AFTER: benchmarks/gpu_profile.py's sections, before and after the CUDA tests, each
# with its own limit (120 s where none is given), e.g. GPU_PROFILE="ab:120 step:90 gemm:40 profile:60" GPU_PROFILE_AFTER="studies:260".
# On 2026-12-04 the whole of it took ~290 s and ~370 s of two calls (BENCHMARKS.md).
set -uo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

prepare() {
    set -e
    for d in /.whl/ /.mnist/; do
        grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
    done
    rm -rf .whl .mnist
    ../shared/gpu/wheels.sh .whl
    # beyond wheels.sh's list: the verdicts' statistics (baycomp; statsmodels is there)
    python3 -m pip wheel -q --no-deps -w .whl baycomp==1.0.3   # pure Python, published as an sdist
    mkdir -p .mnist/MNIST/raw
    for f in ../shared/data/MNIST/raw/*-ubyte; do gzip -c "$f" >".mnist/MNIST/raw/$(basename "$f").gz"; done
    du -sh .whl .mnist
}

device() {
    local out=${OUT:-$here/gpu-out} py=python3
    mkdir -p "$out"
    if [ -d .whl ]; then
        $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    elif [ -x .venv/bin/python ]; then
        py=.venv/bin/python   # this machine's own environment (a dry run on the CPU)
    fi
    local mnist=$here/../shared/data
    if [ -d .mnist ]; then
        mnist=/tmp/mnist
        mkdir -p $mnist/MNIST/raw
        for f in .mnist/MNIST/raw/*.gz; do gunzip -c "$f" >"$mnist/MNIST/raw/$(basename "$f" .gz)"; done
    fi
    export MNIST_ROOT=$mnist PYTHONUNBUFFERED=1
    {
        date -u
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
        $py -c 'import torch, platform; print("torch", torch.__version__, "python", platform.python_version(),
"cuda", torch.cuda.is_available() and torch.cuda.get_device_name())'
    } 2>&1 | tee "$out/device.txt"
    # GPU_PROFILE="ab:120 step:90 ...": benchmarks/gpu_profile.py's sections first, each with its
    # own time limit in seconds (none by default)
    local s
    for s in ${GPU_PROFILE:-}; do
        timeout "$([[ $s == *:* ]] && echo "${s#*:}" || echo 120)" $py benchmarks/gpu_profile.py "${s%%:*}" 2>&1 | tee -a "$out/profile.log"
        echo "profile ${s%%:*} exit: ${PIPESTATUS[0]}" | tee -a "$out/profile.log"
    done
    # the CUDA-only tests first, then part 9, then the rest of the three files (their CPU tests
    # ran in CI already; here they show nothing breaks beside a GPU): what runs out of time is last
    timeout ${GPU_TESTS_S:-150} $py -m pytest -q -rs -p no:cacheprovider tests/test_execution.py tests/test_tuning.py \
        tests/test_population.py -k cuda 2>&1 | tee "$out/tests-cuda.log"
    echo "CUDA tests exit: ${PIPESTATUS[0]}" | tee -a "$out/tests-cuda.log"
    for s in ${GPU_PROFILE_AFTER:-}; do   # the same, after the CUDA tests
        timeout "$([[ $s == *:* ]] && echo "${s#*:}" || echo 120)" $py benchmarks/gpu_profile.py "${s%%:*}" 2>&1 | tee -a "$out/profile.log"
        echo "profile ${s%%:*} exit: ${PIPESTATUS[0]}" | tee -a "$out/profile.log"
    done
    if [ "${GPU_BENCH_S:-300}" -gt 0 ]; then
        timeout ${GPU_BENCH_S:-300} $py benchmarks/bench.py --only 9 2>&1 | tee "$out/bench9.log"
        echo "bench exit: ${PIPESTATUS[0]}" | tee -a "$out/bench9.log"
    fi
    [ "${GPU_REST_S:-60}" -gt 0 ] || return 0   # GPU_REST_S=0: a short lease, the CPU tests skipped
    timeout ${GPU_REST_S:-60} $py -m pytest -q -x -p no:cacheprovider tests/test_execution.py tests/test_tuning.py \
        tests/test_population.py -k "not cuda" $($py -c "import xdist" 2>/dev/null && echo -n 4) 2>&1 | tee "$out/tests-rest.log"
    echo "other tests exit: ${PIPESTATUS[0]}" | tee -a "$out/tests-rest.log"
}

case "${1:-}" in
    prepare) prepare ;;
    device) device ;;
    *) echo "usage: $0 prepare|device" >&2; exit 2 ;;
esac
