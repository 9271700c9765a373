#!/usr/bin/env bash
# The CUDA backend's device check, run once on a GPU machine (which has no
# Go): the binaries come from `make gpu-check` on a development machine, in
# .gpucheck/ (carry it). From the repository root:
#
#   bash engine/cuda/gpucheck/run.sh
#
# In under 8 minutes it runs, each phase bounded by a timeout:
#   1. tests      the conformance suite on the GPU at fp32, fp16 and bf16, and
#                 20 demo training steps selecting the same tokens as the CPU
#   2. golden     the PyTorch-written golden fixtures on CUDA (fp32, and fp16
#                 with fp16 tolerances)
#   3. bench      Go benchmarks: a ViT-B/16 training step (batch 4, n_ctx 2,
#                 visual prompts) at 50 and 500 classes, eval images/s
#   4. torch      the PyTorch reference of the same step on the same GPU
#                 (torch.sh: make bench's bench_pytorch.py at fp16, as the
#                 seed runs it and best-effort)
#   5. slots      a 16-job demo grid with gpu_slots = 1 and = 8: jobs per
#                 GPU-hour
# then prints summary.txt: every figure beside its PyTorch reference and
# the issue's thresholds. Logs and the summary go to $OUT (the device
# tool's folder) or /tmp/gpucheck-out.
set -u
cd "$(dirname "$0")/../../.."
ROOT=$PWD
BIN=$ROOT/.gpucheck
OUTDIR=${OUT:-/tmp/gpucheck-out}
mkdir -p "$OUTDIR"
export GRID_CACHE_DIR=${GRID_CACHE_DIR:-/tmp/gpucheck-cache} # NVRTC output, compiled once for every phase
START=$(date +%s)
STATUS=$OUTDIR/status.txt
: >"$STATUS"

[ -x "$BIN/cuda.test" ] || { echo "no $BIN/cuda.test: run 'make gpu-check' on a machine with Go and carry .gpucheck" >&2; exit 2; }

# phase NAME SECONDS LOG COMMAND...: runs a phase with a timeout, appending
# its output to LOG, and records its outcome and duration.
phase() {
	local name=$1 limit=$2 log=$3
	shift 3
	local t0=$(date +%s)
	echo "=== $name (limit ${limit}s, $((t0 - START))s elapsed)" | tee -a "$log"
	timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
	local rc=$?
	local verdict=ok
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="TIMEOUT after ${limit}s"
	[ $rc -ne 0 ] && [ "$verdict" = ok ] && verdict="FAILED (exit $rc)"
	echo "$name: $verdict in $(($(date +%s) - t0))s" | tee -a "$STATUS" "$log"
}

# The CUDA libraries: the dynamic linker's, else the driver's folder, the
# CUDA toolkit's or PyTorch's nvidia wheels'.
{
	nvidia-smi -L
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
	ldconfig -p | grep -E 'libcuda\.so|libnvrtc|libcublasLt' | head
} >"$OUTDIR/env.txt" 2>&1
if [ -z "${GRID_CUDA_LIB_PATH:-}" ]; then
	dirs=$(ls -d /usr/local/nvidia/lib64 /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null | tr '\n' ':')
	wheel=$(python3 -c 'import glob, os, site; print(":".join(sorted({os.path.dirname(p) for s in site.getsitepackages() for p in glob.glob(s + "/nvidia/*/lib/lib*.so*")})))' 2>/dev/null)
	export GRID_CUDA_LIB_PATH="${dirs}${wheel}"
fi
echo "GRID_CUDA_LIB_PATH=$GRID_CUDA_LIB_PATH" >>"$OUTDIR/env.txt"

TESTS=$OUTDIR/tests.log
phase tests 130 "$TESTS" bash -c "cd engine/cuda && '$BIN/cuda.test' -test.run 'CUDA' -test.v -test.count=1"
phase golden 55 "$TESTS" bash -c "cd engine/golden && '$BIN/golden.test' -test.run 'TestForward|TestResidualStreams|TestSGDSteps|TestEvaluation' -test.v -test.count=1"
phase bench 55 "$OUTDIR/bench.log" bash -c "cd engine/cuda && '$BIN/cuda.test' -test.run '^\$' -test.bench 'CUDA' -test.benchtime 1s"
phase torch 150 "$OUTDIR/torch.jsonl" bash engine/cuda/gpucheck/torch.sh
phase slots 80 "$OUTDIR/slots.log" bash engine/cuda/gpucheck/slots.sh "$BIN/grid" "$OUTDIR/slots.log"

python3 engine/cuda/gpucheck/summarize.py "$OUTDIR" | tee "$OUTDIR/summary.txt"
echo "device check: $(($(date +%s) - START))s in all" | tee -a "$OUTDIR/summary.txt"
