#!/usr/bin/env bash
# slots.sh GRID LOG: the gpu_slots throughput check. It writes the demo
# (a tiny CLIP-shaped model and a synthetic dataset), then runs the same
# 16 training jobs twice on CUDA, with gpu_slots = 1 and gpu_slots = 8, and
# appends to LOG one line per run, "slots <N> jobs <J> ms <T>" (jobs per
# GPU-hour is J·3.6e6/T), and one with the most GPU memory a job recorded,
# "memory <bytes> devices <names>" (from `grid status --json`).
set -eu
GRID=$1
LOG=$2
WORK=$(mktemp -d /tmp/gpucheck-slots.XXXX)
"$GRID" demo --dir "$WORK/demo"
for slots in 1 8; do
	cat >"$WORK/slots$slots.toml" <<EOF
[grid]
name = "slots$slots"
model = "demo/model"
data_root = "demo/data"
backend = "cuda"
gpu_slots = $slots

[defaults]
epochs = 2
shots = 4

[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
[experiment.axes]
seed = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
EOF
	t0=$(date +%s%N)
	"$GRID" run --plain "$WORK/slots$slots.toml"
	t1=$(date +%s%N)
	echo "slots $slots jobs 16 ms $(((t1 - t0) / 1000000))" >>"$LOG"
	"$GRID" status --json "$WORK/slots$slots.toml" | python3 -c '
import json, sys
rows = json.load(sys.stdin)
print("memory", max(r.get("peak_memory", 0) for r in rows), "devices", ",".join(sorted({r.get("device", "") for r in rows})))' >>"$LOG"
done
