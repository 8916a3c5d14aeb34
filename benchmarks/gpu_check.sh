#!/usr/bin/env bash
# The one-call GPU check of grunet's Triton GRU: install, environment, the CUDA parity matrix, the
# benchmark grid against cuDNN, then pytest when the machine has it. Logs and JSON go to $OUT.
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh                                   # on the GPU machine
#   OUT=/tmp/gpu13 GRUNET_GPU_CHECK_REHEARSAL=1 bash benchmarks/gpu_check.sh     # rehearsal, CPU
#
# The rehearsal runs the same stages on the CPU under the Triton interpreter on tiny shapes, with
# grunet's non-core dependencies hidden as on a bare GPU machine, and installs nothing (pip
# --dry-run). Other settings (environment): PYTHON (default: see find_python below),
# GRUNET_GPU_CHECK_BUDGET_S (whole run; default 345, rehearsal 900), GRUNET_GPU_CHECK_SHARDS
# (parallel parity processes; default cores - 4, 1 to 12), GRUNET_GPU_CHECK_NO_PYTEST=1 (skip the
# pytest stage, as on a machine without pytest: the parity runner covers the same matrix anyway).
#
# Exit status, bits added up: 1 setup failed (install/import/no GPU), 2 parity failed or
# incomplete, 4 benchmark failed, incomplete or an implementation failed at some point, 8 pytest
# failed, 16 a stage was skipped or cut short for time.
# $OUT/summary.txt says the same in words; $OUT/stages.tsv has each stage's status and seconds.

set -u -o pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for logs and JSON}"
mkdir -p "$OUT"
REHEARSAL=${GRUNET_GPU_CHECK_REHEARSAL:-0}
# Python: $PYTHON, else the first that imports torch of python, python3, the repository's .venv
# (made by `make`) and, in a git worktree, the main worktree's .venv.
find_python() {
    local common c
    common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
    for c in python python3 "$PWD/.venv/bin/python" ${common:+"${common%/.git}/.venv/bin/python"}; do
        if command -v "$c" > /dev/null && "$c" -c "import torch" 2>/dev/null; then
            command -v "$c"; return
        fi
    done
    command -v python || command -v python3
}
PY=${PYTHON:-$(find_python)}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# grunet's own dependencies that the Triton check does not use (stood in for when missing).
CANDIDATES="numba,llvmlite,safetensors,rich,matplotlib,typer,h5py,statsmodels,pyarrow"
if [ "$REHEARSAL" = 1 ]; then
    BUDGET=${GRUNET_GPU_CHECK_BUDGET_S:-900}; SCALE=3
    PROFILE=rehearsal; DEVICE=cpu; BENCH_ARGS=(--rehearsal)
    export TRITON_INTERPRET=1 GRUNET_HIDE_MODULES=$CANDIDATES
    DRY=(--dry-run)
else
    BUDGET=${GRUNET_GPU_CHECK_BUDGET_S:-345}; SCALE=1
    PROFILE=gpu; DEVICE=cuda; BENCH_ARGS=()
    unset TRITON_INTERPRET GRUNET_HIDE_MODULES
    DRY=()
fi
CORES=$(nproc 2>/dev/null || echo 2)
# Parity processes: the matrix is mostly Triton compiles (one core each), so most of the cores.
SHARDS=${GRUNET_GPU_CHECK_SHARDS:-$(( CORES - 4 < 1 ? 1 : (CORES - 4 > 12 ? 12 : CORES - 4) ))}
STUB_DIR=$PWD/benchmarks/gpu_check_stubs
export PYTHONPATH=$STUB_DIR:$PWD/src${PYTHONPATH:+:$PYTHONPATH}
START=$(date +%s)
DEADLINE=$(( START + BUDGET ))
STATUS=0
: > "$OUT/stages.tsv"
: > "$OUT/summary.txt"

say() { echo "$*" | tee -a "$OUT/summary.txt"; }
left() { echo $(( DEADLINE - $(date +%s) )); }
# stage_limit CAP: seconds a stage may take now (its cap, scaled, within the whole budget).
stage_limit() { local t cap=$(( $1 * SCALE )); t=$(left); echo $(( t < cap ? t : cap )); }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$OUT/stages.tsv"; }
# run_stage NAME CAP CMD...: run CMD under timeout with its output in $OUT/NAME.log.
run_stage() {
    local name=$1 limit s rc; limit=$(stage_limit "$2"); shift 2
    if (( limit < 10 )); then
        record "$name" skipped 0 "$limit"; say "$name: skipped, out of time"; STATUS=$(( STATUS | 16 ))
        return 125
    fi
    s=$(date +%s)
    timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1; rc=$?
    record "$name" "$rc" $(( $(date +%s) - s )) "$limit"
    (( rc == 124 || rc == 137 )) && say "$name: TIMED OUT after $limit s"
    return $rc
}

# --- 1. environment -------------------------------------------------------------------------------
environment() {
    date -u; echo "rehearsal=$REHEARSAL profile=$PROFILE device=$DEVICE shards=$SHARDS cores=$CORES"
    echo "python: $PY"; git rev-parse HEAD 2>/dev/null || echo "git: no repository"
    if [ "$DEVICE" = cuda ]; then nvidia-smi || echo "nvidia-smi failed"; fi
    "$PY" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("torch", "triton", "numpy", "pandas", "pytest", "setuptools"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as e:  # absent modules are what this line reports
        print(name, "-", type(e).__name__, e)
import torch
print("cuda available:", torch.cuda.is_available(), "| torch cuda:", torch.version.cuda)
if torch.cuda.is_available():
    print("gpu:", torch.cuda.get_device_name(), torch.cuda.get_device_capability())
EOF
}
export PY REHEARSAL PROFILE DEVICE SHARDS CORES CANDIDATES
export -f environment
run_stage env 30 bash -c environment
cp "$OUT/env.log" "$OUT/env.txt"
sed -n '1,3p;/^python /,$p' "$OUT/env.log" | head -n 20

# --- 2. install (editable, no dependencies, nothing from the network) -----------------------------
if run_stage install 60 "$PY" -m pip install "${DRY[@]}" --no-deps --no-build-isolation --no-index -e .
then say "install: ok${DRY:+ (dry run: rehearsal)}"
else say "install: FAILED (see install.log); going on with PYTHONPATH=src"
fi

# --- 3. import preflight: stand in for missing non-core dependencies, then import everything -----
preflight() {
    "$PY" - "$CANDIDATES" "$DEVICE" <<'EOF'
import sys

import sitecustomize  # benchmarks/gpu_check_stubs: stand-ins for missing modules

candidates, device = set(sys.argv[1].split(",")), sys.argv[2]
while True:
    try:
        import grunet, grunet.nn, grunet.ops  # noqa: E401
        break
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in candidates or top in sitecustomize.stubbed():
            raise
        sitecustomize.stub(top)
        for m in [m for m in sys.modules if m == "grunet" or m.startswith("grunet.")]:
            del sys.modules[m]
import torch
from grunet.ops import triton_gru  # noqa: F401  (imports triton)

print("grunet from", grunet.__file__)
print("stubs:", ",".join(sorted(sitecustomize.stubbed())))
if device == "cuda" and not torch.cuda.is_available():
    sys.exit("no CUDA device: torch.cuda.is_available() is False")
EOF
}
export -f preflight
if run_stage preflight 60 bash -c preflight; then
    STUBS=$(sed -n 's/^stubs: //p' "$OUT/preflight.log")
    export GRUNET_STUB_MODULES=$STUBS
    say "preflight: $(grep '^grunet from' "$OUT/preflight.log"); stand-ins: ${STUBS:-none}"
else
    say "preflight: FAILED, nothing else can run:"; tail -n 15 "$OUT/preflight.log" | tee -a "$OUT/summary.txt"
    STATUS=$(( STATUS | 1 )); say "exit status $STATUS"; exit "$STATUS"
fi

# --- 4. parity matrix: SHARDS processes share the GPU (and the Triton compile cache) --------------
LIMIT=$(stage_limit 160)
say "parity: profile $PROFILE on $DEVICE, $SHARDS processes, $LIMIT s"
S=$(date +%s); PIDS=()
for (( k = 0; k < SHARDS; k++ )); do
    timeout -k 10 "$LIMIT" "$PY" benchmarks/cuda_parity.py --profile "$PROFILE" --device "$DEVICE" \
        --shard "$k/$SHARDS" --json "$OUT/parity_shard$k.json" --max-seconds $(( LIMIT * 2 / 3 )) \
        > "$OUT/parity_shard$k.log" 2>&1 &
    PIDS+=($!)
done
for pid in "${PIDS[@]}"; do wait "$pid"; done
SHARD_FILES=()
for (( k = 0; k < SHARDS; k++ )); do SHARD_FILES+=("$OUT/parity_shard$k.json"); done
"$PY" benchmarks/cuda_parity.py --profile "$PROFILE" --merge "$OUT/parity.json" "${SHARD_FILES[@]}" \
    > "$OUT/parity.log" 2>&1; RC=$?
record parity "$RC" $(( $(date +%s) - S )) "$LIMIT"
head -n 40 "$OUT/parity.log" | tee -a "$OUT/summary.txt"
(( RC != 0 )) && STATUS=$(( STATUS | 2 ))

# --- 5. benchmark grid (alone on the GPU) -----------------------------------------------------------
LIMIT=$(stage_limit 120)
run_stage bench 120 "$PY" benchmarks/bench_cuda.py --json "$OUT/bench.json" \
    --max-seconds $(( LIMIT > 40 ? LIMIT - 30 : LIMIT / 2 )) "${BENCH_ARGS[@]}"; RC=$?
(( RC != 0 )) && STATUS=$(( STATUS | 4 ))
if (( RC != 0 && RC != 125 )); then
    say "bench: FAILED, rc $RC (see bench.log):"; tail -n 15 "$OUT/bench.log" | tee -a "$OUT/summary.txt"
fi
if [ -s "$OUT/bench.json" ]; then  # written after every point: read it even after a failure
    grep -E '^(target|triton_ra_(true|false)_(infer|train)_x_cudnn_geomean|rb_over_ra)' \
        "$OUT/bench.log" | tee -a "$OUT/summary.txt"
    if ! "$PY" - "$OUT/bench.json" <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys

doc = json.load(open(sys.argv[1]))
failed = {k: v for k, v in doc["summary"].items() if k.endswith("_failed_at") and v}
for key, where in failed.items():
    print(f"bench: {key.removesuffix('_failed_at')} FAILED at {', '.join(where)} (see bench.json)")
if not doc["complete"]:
    print(f"bench: INCOMPLETE: {len(doc['not_measured'])} points not measured")
print(f"bench: {len(doc['rows'])} points measured -> bench.json")
sys.exit(bool(failed) or not doc["complete"])
EOF
    then STATUS=$(( STATUS | 4 )); fi
fi

# --- 6. pytest, when the machine has it: the backend's other tests --------------------------------
if [ "${GRUNET_GPU_CHECK_NO_PYTEST:-0}" = 1 ] || ! "$PY" -c "import pytest" 2>/dev/null; then
    say "pytest: not run (not installed or GRUNET_GPU_CHECK_NO_PYTEST=1); the parity stage covers the matrix"
else
    # The matrix itself has just run in the parity stage: here the backend's other tests, compiled.
    FILES=(tests/ops/test_triton.py tests/ops/test_triton_cuda.py -k "not test_cuda_parity_matrix")
    DESELECT=()  # this test runs the CPU backend, which a stand-in for numba cannot run
    [ -n "${GRUNET_STUB_MODULES:-}" ] && DESELECT=(--deselect
        tests/ops/test_triton.py::test_import_grunet_does_not_import_triton)
    # Plugins off: the tests must pass with bare pytest (a GPU machine has no others).
    PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 run_stage pytest 90 "$PY" -m pytest -q -p no:cacheprovider \
        --junitxml="$OUT/pytest.xml" \
        "${FILES[@]}" "${DESELECT[@]}"; RC=$?
    tail -n 12 "$OUT/pytest.log" | tee -a "$OUT/summary.txt"
    if (( RC == 124 || RC == 137 )); then STATUS=$(( STATUS | 16 ))  # out of time, not a failure
    elif (( RC != 0 && RC != 125 )); then STATUS=$(( STATUS | 8 )); fi
fi

say "stages (name rc seconds limit):"
{ column -t "$OUT/stages.tsv" 2>/dev/null || cat "$OUT/stages.tsv"; } | tee -a "$OUT/summary.txt"
say "total $(( $(date +%s) - START )) s; exit status $STATUS (1 setup, 2 parity, 4 bench, 8 pytest, 16 time)"
exit "$STATUS"
