"""summarize.py OUTDIR: the device check's figures beside their references.

Reads what run.sh left in OUTDIR (status.txt, tests.log, bench.log,
torch.jsonl from torch.sh, slots.log, env.txt) and prints one table: each test group's
verdict, grid's training step and evaluation throughput on CUDA against
PyTorch's (measured in the same run on the same GPU) with the ratios, and
the gpu_slots throughput, each beside the issue's target.
"""

import json
import os
import re
import sys


def read(outdir, name):
    try:
        with open(os.path.join(outdir, name)) as f:
            return f.read()
    except OSError:
        return ""


def go_benchmarks(text):
    """{name: {unit: value}} from `go test -bench` output."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("Benchmark"):
            continue
        fields = line.split()
        name = re.sub(r"-\d+$", "", fields[0])
        units = {fields[i + 1]: float(fields[i]) for i in range(2, len(fields) - 1, 2)}
        out[name] = units
    return out


def torch_results(text):
    """Step milliseconds by (variant, classes) and eval images/s by variant,
    each the median of bench_pytorch.py's repetitions; and the failures."""
    steps, evals, notes = {}, {}, []
    median = lambda xs: sorted(xs)[len(xs) // 2]
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if "step" in r:
            if r["step"] is None:
                notes.append(f"{r['variant']} step at {r['classes']} classes failed (torch.jsonl, the phase log)")
            else:
                steps[(r["variant"], r["classes"])] = 1000 * median(r["step"]["all"])
        elif "eval" in r:
            if r["eval"] is None:
                notes.append(f"{r['variant']} eval failed")
            else:
                evals[r["variant"]] = median(r["eval"]["all"])
    return steps, evals, notes


def test_verdicts(text):
    """The tests, each backend's subtest, and each precision's, with their
    verdicts (the suite's own subtests only where they failed)."""
    lines = []
    for m in re.finditer(r"^\s*--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)", text, re.M):
        verdict, name, secs = m.groups()
        parts = name.split("/")
        shown = len(parts) <= 2 or parts[-1] in ("fp32", "fp16", "bf16") or verdict == "FAIL"
        if shown:
            lines.append(f"  {verdict:4}  {name} ({secs}s)")
    return lines


def ratio(ref, got):
    return f"{ref / got:.2f}x" if ref and got else "—"


def main(outdir):
    bench = go_benchmarks(read(outdir, "bench.log"))
    steps, evals, notes = torch_results(read(outdir, "torch.jsonl"))
    print("== device")
    print(read(outdir, "env.txt").strip())
    print("== phases")
    print(read(outdir, "status.txt").strip())
    print("== tests (CUDA)")
    print("\n".join(test_verdicts(read(outdir, "tests.log"))) or "  (no test output)")
    print("== training step, ViT-B/16, batch 4, n_ctx 2, visual prompts (ms; speed-up = PyTorch ms / grid ms)")
    print(f"  {'classes':>7} {'grid fp16':>10} {'grid fp32':>10} {'torch seed':>11} {'speed-up':>9} {'torch best':>11} {'speed-up':>9}  target")
    targets = {50: "grid fp16 <= 5 ms, >= 5x best", 500: "grid fp16 <= 8 ms, >= 2.5x best"}
    for classes in (50, 500):
        g16 = bench.get(f"BenchmarkTrainStepCUDA/fp16/classes={classes}", {}).get("ms/step")
        g32 = bench.get(f"BenchmarkTrainStepCUDA/fp32/classes={classes}", {}).get("ms/step")
        seed, best = steps.get(("seed", classes)), steps.get(("best", classes))
        fmt = lambda v: f"{v:.2f}" if v else "—"
        print(f"  {classes:>7} {fmt(g16):>10} {fmt(g32):>10} {fmt(seed):>11} {ratio(seed, g16):>9} {fmt(best):>11} {ratio(best, g16):>9}  {targets[classes]}")
    print("== evaluation: vision forward, batches of 100 (images/s; speed-up = grid / PyTorch)")
    g16 = bench.get("BenchmarkEvalImagesCUDA/fp16", {}).get("images/s")
    g32 = bench.get("BenchmarkEvalImagesCUDA/fp32", {}).get("images/s")
    seed, best = evals.get("seed"), evals.get("best")
    inv = lambda a, b: f"{a / b:.2f}x" if a and b else "—"
    num = lambda v: f"{v:.0f}" if v else "—"
    print(f"  grid fp16 {num(g16)}, grid fp32 {num(g32)}; torch seed {num(seed)} ({inv(g16, seed)}), torch best {num(best)} ({inv(g16, best)}); target >= 14000")
    for n in notes:
        print(f"  torch note: {n}")
    print("== gpu_slots: 16 demo training jobs (jobs per GPU-hour)")
    rate = {}
    for m in re.finditer(r"^slots (\d+) jobs (\d+) ms (\d+)", read(outdir, "slots.log"), re.M):
        slots, jobs, ms = map(int, m.groups())
        rate[slots] = jobs * 3.6e6 / ms
        print(f"  gpu_slots = {slots}: {jobs} jobs in {ms / 1000:.1f} s = {rate[slots]:.0f} jobs/GPU-hour")
    for m in re.finditer(r"^memory (\d+) devices (.*)$", read(outdir, "slots.log"), re.M):
        print(f"  most GPU memory a job recorded: {int(m.group(1)) / 2**30:.2f} GiB on {m.group(2)}")
    if 1 in rate and 8 in rate:
        print(f"  gpu_slots 8 / 1: {rate[8] / rate[1]:.2f}x; target >= 3x")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gpucheck-out")
