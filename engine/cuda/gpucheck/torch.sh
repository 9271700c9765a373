#!/usr/bin/env bash
# torch.sh: the PyTorch reference of the device check, on the GPU, with the
# same script `make bench` runs on the CPU (engine/reference/bench_pytorch.py):
# the training step at 50 and 500 classes and the evaluation's vision
# forward, fp16 as the seed runs them ("seed") and best-effort ("best": text
# cut at the last EOT, torch.compile). One JSON line per measurement:
# {"variant": ..., "classes": N, "step": {...seconds...}} or
# {"variant": ..., "eval": {...images/s...}}.
set -u
bench=engine/reference/bench_pytorch.py
common=(--threads 16 --device cuda --dtype fp16 --n-ctx 2)
for variant in seed best; do
	extra=(--warmup 5)
	[ "$variant" = best ] && extra=(--best --warmup 8)
	for classes in 50 500; do
		out=$(python3 "$bench" step "${common[@]}" "${extra[@]}" --classes "$classes" --batch 4 --reps 20) || out=null
		echo "{\"variant\": \"$variant\", \"classes\": $classes, \"step\": $out}"
	done
	out=$(python3 "$bench" eval "${common[@]}" "${extra[@]}" --batch 100 --reps 10) || out=null
	echo "{\"variant\": \"$variant\", \"eval\": $out}"
done
